//! `weft-mount-helper serve`: the helper as a system service. systemd starts
//! it as root from `weft-mount.socket` (a Unix socket only the `weft` group
//! may connect to) and hands it the listening socket as standard input; the
//! supervisor asks it to mount or unmount an app's image over that socket.
//! This replaces a setuid binary, which a hardened supervisor could not run:
//! systemd sets `no_new_privs` on an unprivileged service that has any
//! seccomp-based setting, and the kernel then ignores the setuid bit.
//!
//! The protocol (docs/protocol.md, "Mount service"): the client sends one
//! line, `mount <app-id>` or `unmount <app-id>`, and reads one line back,
//! `ok <mount point>` / `ok`, or `error <message>`; then the connection
//! closes. Requests are handled one at a time, so two device operations never
//! race; a client gets [`REQUEST_TIMEOUT`] to send its line.

use std::io::{self, BufRead, BufReader, Read, Write};
use std::os::unix::net::{UnixListener, UnixStream};
use std::time::Duration;

use crate::{SystemPaths, mount, unmount};

/// The longest request line accepted, its newline included.
pub const MAX_REQUEST: usize = 256;

/// How long a client may take to send its request or read the answer.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);

/// One request of the mount service's protocol.
#[derive(Debug, PartialEq, Eq)]
pub enum Request {
    /// `mount <app-id>`: verify, map and mount the app's image.
    Mount(String),
    /// `unmount <app-id>`: unmount it and remove its mapping.
    Unmount(String),
}

/// Why a request line was refused.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum RequestError {
    /// No newline within [`MAX_REQUEST`] bytes.
    #[error("the request is not a line of at most {MAX_REQUEST} bytes")]
    TooLong,
    /// The connection closed before a whole line arrived.
    #[error("the request ended before its newline")]
    Unterminated,
    /// The line is not UTF-8.
    #[error("the request is not UTF-8")]
    NotUtf8,
    /// No whole line within [`REQUEST_TIMEOUT`].
    #[error("no whole request line within {} s", REQUEST_TIMEOUT.as_secs())]
    TimedOut,
    /// Anything but an action and an id.
    #[error("unknown request {0:?}: expected `mount <app-id>` or `unmount <app-id>`")]
    Unknown(String),
}

/// Parses one request line (with its newline). The id is checked by
/// [`mount`] and [`unmount`], which refuse anything but an app id.
pub fn parse_request(line: &[u8]) -> Result<Request, RequestError> {
    let Some(line) = line.strip_suffix(b"\n") else {
        return Err(if line.len() >= MAX_REQUEST {
            RequestError::TooLong
        } else {
            RequestError::Unterminated
        });
    };
    let line = std::str::from_utf8(line).map_err(|_| RequestError::NotUtf8)?;
    match line.split_once(' ') {
        Some(("mount", id)) => Ok(Request::Mount(id.to_owned())),
        Some(("unmount", id)) => Ok(Request::Unmount(id.to_owned())),
        _ => Err(RequestError::Unknown(line.to_owned())),
    }
}

/// Carries out one request; the answer line without its newline.
pub fn answer(paths: &SystemPaths, request: &Request) -> String {
    let result = match request {
        Request::Mount(id) => mount(paths, id).map(|target| format!("ok {}", target.display())),
        Request::Unmount(id) => unmount(paths, id).map(|()| "ok".to_owned()),
    };
    result.unwrap_or_else(|error| format!("error {}", one_line(&error.to_string())))
}

/// Serves connections on `listener` one at a time, forever. Returns only when
/// accepting fails for good (the socket is not a listening one).
pub fn serve(listener: &UnixListener, paths: &SystemPaths) -> io::Error {
    loop {
        let stream = match listener.accept() {
            Ok((stream, _)) => stream,
            Err(error) if is_fatal_accept_error(&error) => return error,
            Err(error) => {
                // Out of descriptors or memory for a moment: the clients
                // already connected are being served; try again shortly.
                eprintln!("weft-mount-helper: accepting a connection: {error}");
                std::thread::sleep(Duration::from_millis(100));
                continue;
            }
        };
        if let Err(error) = handle(stream, paths) {
            eprintln!("weft-mount-helper: a client: {error}");
        }
    }
}

fn is_fatal_accept_error(error: &io::Error) -> bool {
    use rustix::io::Errno;
    matches!(Errno::from_io_error(error), Some(Errno::INVAL | Errno::NOTSOCK | Errno::BADF))
}

fn handle(stream: UnixStream, paths: &SystemPaths) -> io::Result<()> {
    stream.set_read_timeout(Some(REQUEST_TIMEOUT))?;
    stream.set_write_timeout(Some(REQUEST_TIMEOUT))?;
    let mut line = Vec::new();
    let read = BufReader::new((&stream).take(MAX_REQUEST as u64)).read_until(b'\n', &mut line);
    let request = match read {
        Ok(_) => parse_request(&line),
        Err(error)
            if matches!(error.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut) =>
        {
            Err(RequestError::TimedOut)
        }
        Err(error) => return Err(error),
    };
    let reply = match &request {
        Ok(request) => answer(paths, request),
        Err(error) => format!("error {error}"),
    };
    (&stream).write_all(format!("{reply}\n").as_bytes())?;
    if request == Err(RequestError::TooLong) {
        discard_pending(&stream);
    }
    Ok(())
}

/// Reads away what an oversized request left unread, so that closing the
/// connection does not reset it before the client has read the refusal.
fn discard_pending(mut stream: &UnixStream) {
    let mut sink = [0; 4096];
    if stream.set_nonblocking(true).is_ok() {
        for _ in 0..16 {
            if !matches!(stream.read(&mut sink), Ok(count) if count > 0) {
                break;
            }
        }
    }
}

fn one_line(message: &str) -> String {
    message.lines().map(str::trim).filter(|line| !line.is_empty()).collect::<Vec<_>>().join("; ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_parse_and_anything_else_is_named() {
        assert_eq!(
            parse_request(b"mount org.weft.hello\n"),
            Ok(Request::Mount("org.weft.hello".into()))
        );
        assert_eq!(parse_request(b"unmount a.b\n"), Ok(Request::Unmount("a.b".into())));
        assert_eq!(parse_request(b"mount org.weft.hello"), Err(RequestError::Unterminated));
        assert_eq!(parse_request(&[b'a'; MAX_REQUEST]), Err(RequestError::TooLong));
        assert_eq!(parse_request(b"mount \xff\n"), Err(RequestError::NotUtf8));
        for hostile in ["format org.weft.hello", "mount", "", "MOUNT a.b", "mount\ta.b"] {
            assert_eq!(
                parse_request(format!("{hostile}\n").as_bytes()),
                Err(RequestError::Unknown(hostile.into())),
                "{hostile:?}"
            );
        }
    }

    #[test]
    fn answers_are_one_line() {
        assert_eq!(one_line("first\n  second\n\nthird"), "first; second; third");
    }
}
