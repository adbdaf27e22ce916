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
//!
//! Every user holds only the mounts it asked for: the service counts each
//! app's mounts per caller uid (from the socket's peer credentials), an
//! `unmount` from a uid that holds none of that app is refused, and the image
//! is unmounted when its last holder lets go. Root may unmount any app.

use std::collections::{BTreeMap, HashMap};
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
    /// `release-all`: give back every mount the caller's uid holds (a
    /// supervisor starting after its predecessor died); images nobody holds
    /// any more are unmounted.
    ReleaseAll,
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
    #[error(
        "unknown request {0:?}: expected `mount <app-id>`, `unmount <app-id>` or `release-all`"
    )]
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
    if line == "release-all" {
        return Ok(Request::ReleaseAll);
    }
    match line.split_once(' ') {
        Some(("mount", id)) => Ok(Request::Mount(id.to_owned())),
        Some(("unmount", id)) => Ok(Request::Unmount(id.to_owned())),
        _ => Err(RequestError::Unknown(line.to_owned())),
    }
}

/// Who holds each mounted app: per app id, per uid, how many mounts it asked
/// for and has not given back.
#[derive(Debug, Default)]
pub struct Holders(HashMap<String, BTreeMap<u32, u32>>);

/// What an `unmount` from a uid comes to.
#[derive(Debug, PartialEq, Eq)]
pub enum Release {
    /// The last hold is gone (or root asked): unmount the image.
    Unmount,
    /// Other holds remain: only the caller's was released.
    Keep,
}

impl Holders {
    /// Records that `uid` mounted `id`.
    pub fn hold(&mut self, id: &str, uid: u32) {
        *self.0.entry(id.to_owned()).or_default().entry(uid).or_default() += 1;
    }

    /// Releases one of `uid`'s holds on `id`; refused, naming both, when it
    /// holds none. Root releases every hold.
    pub fn release(&mut self, id: &str, uid: u32) -> Result<Release, String> {
        if uid == 0 {
            self.0.remove(id);
            return Ok(Release::Unmount);
        }
        let refusal =
            || format!("{id} is not mounted for uid {uid}: only its holders may unmount it");
        let holds = self.0.get_mut(id).ok_or_else(refusal)?;
        let count = holds.get_mut(&uid).ok_or_else(refusal)?;
        *count -= 1;
        if *count == 0 {
            holds.remove(&uid);
        }
        if holds.is_empty() {
            self.0.remove(id);
            Ok(Release::Unmount)
        } else {
            Ok(Release::Keep)
        }
    }

    /// Releases every hold of `uid`; returns the apps no one holds any more.
    pub fn release_all(&mut self, uid: u32) -> Vec<String> {
        let mut free = Vec::new();
        self.0.retain(|id, holds| {
            holds.remove(&uid);
            let keep = !holds.is_empty();
            if !keep {
                free.push(id.clone());
            }
            keep
        });
        free.sort();
        free
    }
}

/// Carries out one request of a client of `uid`; the answer line without its
/// newline.
pub fn answer(paths: &SystemPaths, holders: &mut Holders, uid: u32, request: &Request) -> String {
    let result = match request {
        Request::Mount(id) => mount(paths, id).map(|target| {
            holders.hold(id, uid);
            format!("ok {}", target.display())
        }),
        Request::Unmount(id) => match holders.release(id, uid) {
            Ok(Release::Unmount) => unmount(paths, id).map(|()| "ok".to_owned()),
            Ok(Release::Keep) => Ok("ok".to_owned()),
            Err(refusal) => return format!("error {refusal}"),
        },
        Request::ReleaseAll => {
            let mut answer = "ok".to_owned();
            for id in holders.release_all(uid) {
                match unmount(paths, &id) {
                    Ok(()) => answer.push_str(&format!(" {id}")),
                    Err(error) => eprintln!("weft-mount-helper: release-all: {id}: {error}"),
                }
            }
            Ok(answer)
        }
    };
    result.unwrap_or_else(|error| format!("error {}", one_line(&error.to_string())))
}

/// Serves connections on `listener` one at a time, forever. Returns only when
/// accepting fails for good (the socket is not a listening one).
pub fn serve(listener: &UnixListener, paths: &SystemPaths) -> io::Error {
    let mut holders = Holders::default();
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
        if let Err(error) = handle(stream, paths, &mut holders) {
            eprintln!("weft-mount-helper: a client: {error}");
        }
    }
}

fn is_fatal_accept_error(error: &io::Error) -> bool {
    use rustix::io::Errno;
    matches!(Errno::from_io_error(error), Some(Errno::INVAL | Errno::NOTSOCK | Errno::BADF))
}

fn handle(stream: UnixStream, paths: &SystemPaths, holders: &mut Holders) -> io::Result<()> {
    let uid = rustix::net::sockopt::socket_peercred(&stream)?.uid.as_raw();
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
        Ok(request) => answer(paths, holders, uid, request),
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
        assert_eq!(parse_request(b"release-all\n"), Ok(Request::ReleaseAll));
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
    fn a_user_releases_only_its_own_holds_and_the_last_one_unmounts() {
        let mut holders = Holders::default();
        holders.hold("a.b", 1000);
        holders.hold("a.b", 1000);
        holders.hold("a.b", 1001);
        assert_eq!(
            holders.release("a.b", 1002),
            Err("a.b is not mounted for uid 1002: only its holders may unmount it".into())
        );
        assert!(holders.release("c.d", 1000).is_err(), "held nothing of c.d");
        assert_eq!(holders.release("a.b", 1000), Ok(Release::Keep));
        assert_eq!(holders.release("a.b", 1000), Ok(Release::Keep));
        assert!(holders.release("a.b", 1000).is_err(), "released more than it held");
        assert_eq!(holders.release("a.b", 1001), Ok(Release::Unmount));
        holders.hold("a.b", 1000);
        assert_eq!(holders.release("a.b", 0), Ok(Release::Unmount), "root unmounts any");
        assert!(holders.release("a.b", 1000).is_err());

        holders.hold("a.b", 1000);
        holders.hold("a.b", 1000);
        holders.hold("a.b", 1001);
        holders.hold("c.d", 1000);
        assert_eq!(holders.release_all(1000), vec!["c.d".to_owned()], "a.b is 1001's too");
        assert_eq!(holders.release_all(1000), Vec::<String>::new());
        assert_eq!(holders.release_all(1001), vec!["a.b".to_owned()]);
    }

    #[test]
    fn answers_are_one_line() {
        assert_eq!(one_line("first\n  second\n\nthird"), "first; second; third");
    }
}
