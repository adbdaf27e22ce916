//! `weft-file-portal`: a per-session process that holds the session's allowed
//! directories and opens paths beneath them on request. Every path is resolved
//! by the kernel with `openat2(RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS)`
//! relative to a root descriptor: no textual `..` filtering exists to get
//! wrong. Read-only roots refuse write opens, and live on a locked read-only
//! mount ([`readonly`]), so no descriptor beneath them (the root's own, a file
//! opened for reading) can create, write, rename, link, `chmod` or `chown`
//! anything: the kernel answers `EROFS`. Results travel back as file
//! descriptors (`SCM_RIGHTS`), so data never passes through the protocol.

use std::io::{BufRead, BufReader, IoSlice, Read};
use std::mem::MaybeUninit;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::PathBuf;

use anyhow::{Context, Result};
use rustix::fs::{Mode, OFlags, ResolveFlags, openat2};
use rustix::net::{SendAncillaryBuffer, SendAncillaryMessage, SendFlags, sendmsg};
use weft_protocol::portal::{MAX_REQUEST_BYTES, PortalReply, PortalRequest};

pub mod readonly;

/// One allowed directory.
pub struct Root {
    /// Its name in requests (`app-data`, `xdg-documents`).
    pub name: String,
    /// The open directory (for a read-only root, an `O_PATH` descriptor on its
    /// locked read-only mount).
    pub dir: OwnedFd,
    /// Whether writes are allowed beneath it.
    pub writable: bool,
}

impl Root {
    /// Opens the roots `(name, dir, writable)`: writable ones as plain
    /// directories, read-only ones on locked read-only mounts
    /// ([`readonly::seal`]).
    pub fn open_all(specs: Vec<(String, PathBuf, bool)>) -> Result<Vec<Self>> {
        let read_only: Vec<_> = specs
            .iter()
            .filter(|(_, _, writable)| !writable)
            .map(|(name, dir, _)| (name.clone(), dir.clone()))
            .collect();
        let mut sealed =
            if read_only.is_empty() { Vec::new() } else { readonly::seal(&read_only)? }.into_iter();
        specs
            .into_iter()
            .map(|(name, path, writable)| {
                let dir = if writable {
                    rustix::fs::open(
                        &path,
                        OFlags::DIRECTORY | OFlags::RDONLY | OFlags::CLOEXEC,
                        Mode::empty(),
                    )
                    .with_context(|| format!("opening the {name} root {}", path.display()))?
                } else {
                    sealed.next().context("a sealed read-only root went missing")?
                };
                Ok(Self { name, dir, writable })
            })
            .collect()
    }
}

/// Resolves one request to an open descriptor, or says why not.
pub fn resolve(roots: &[Root], request: &PortalRequest) -> Result<OwnedFd, String> {
    let name = match request {
        PortalRequest::Root { root } | PortalRequest::Open { root, .. } => root,
    };
    let root = roots
        .iter()
        .find(|root| &root.name == name)
        .ok_or_else(|| format!("no root named {name:?}"))?;
    let (path, write, create, directory) = match request {
        PortalRequest::Root { .. } => (".", false, false, true),
        PortalRequest::Open { path, write, create, directory, .. } => {
            (path.as_str(), *write || *create, *create, *directory)
        }
    };
    if write && !root.writable {
        return Err(format!("the {name} root is read-only"));
    }
    if path.is_empty() {
        return Err("the path is empty".to_owned());
    }
    let mut flags = OFlags::CLOEXEC | OFlags::NOCTTY;
    flags |= match (directory, write) {
        (true, _) => OFlags::DIRECTORY | OFlags::RDONLY,
        (false, true) => OFlags::RDWR,
        (false, false) => OFlags::RDONLY,
    };
    if create {
        flags |= OFlags::CREATE;
    }
    // openat2 refuses a mode unless it creates.
    let mode = if create { Mode::from_raw_mode(0o600) } else { Mode::empty() };
    openat2(&root.dir, path, flags, mode, ResolveFlags::BENEATH | ResolveFlags::NO_MAGICLINKS)
        .map_err(|error| format!("{path:?} beneath {name}: {error}"))
}

/// Serves connections until the listener fails, one thread per connection.
pub fn serve(
    listener: &UnixListener,
    roots: std::sync::Arc<Vec<Root>>,
    session: &str,
) -> Result<()> {
    for stream in listener.incoming() {
        let stream = stream?;
        let roots = std::sync::Arc::clone(&roots);
        let session = session.to_owned();
        std::thread::spawn(move || {
            if let Err(error) = serve_connection(&stream, &roots, &session) {
                tracing::debug!(session, "portal connection ended: {error:#}");
            }
        });
    }
    Ok(())
}

fn serve_connection(stream: &UnixStream, roots: &[Root], session: &str) -> Result<()> {
    let mut reader = BufReader::new(stream.try_clone()?);
    loop {
        let mut line = Vec::new();
        let read = Read::by_ref(&mut reader)
            .take(MAX_REQUEST_BYTES as u64 + 1)
            .read_until(b'\n', &mut line)?;
        if read == 0 {
            return Ok(());
        }
        if line.len() > MAX_REQUEST_BYTES {
            send_reply(
                stream,
                &PortalReply {
                    ok: false,
                    error: Some(format!("requests are at most {MAX_REQUEST_BYTES} bytes")),
                },
                None,
            )?;
            return Ok(());
        }
        let outcome = serde_json::from_slice::<PortalRequest>(&line)
            .map_err(|error| format!("malformed request: {error}"))
            .and_then(|request| {
                let result = resolve(roots, &request);
                match &result {
                    Ok(_) => tracing::info!(session, ?request, "portal: opened"),
                    Err(error) => tracing::warn!(session, ?request, "portal: refused: {error}"),
                }
                result
            });
        match outcome {
            Ok(fd) => send_reply(stream, &PortalReply { ok: true, error: None }, Some(&fd))?,
            Err(error) => send_reply(stream, &PortalReply { ok: false, error: Some(error) }, None)?,
        }
    }
}

fn send_reply(stream: &UnixStream, reply: &PortalReply, fd: Option<&OwnedFd>) -> Result<()> {
    let mut line = serde_json::to_vec(reply)?;
    line.push(b'\n');
    let mut space = [MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(1))];
    let mut control = SendAncillaryBuffer::new(&mut space);
    let fds = fd.map(|fd| [fd.as_fd()]);
    if let Some(fds) = &fds {
        control.push(SendAncillaryMessage::ScmRights(fds));
    }
    sendmsg(stream, &[IoSlice::new(&line)], &mut control, SendFlags::empty())?;
    Ok(())
}
