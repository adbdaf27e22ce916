//! The file portal's protocol: a session's runtime (or supervisor) asks the
//! portal to open a path beneath one of the session's roots, and gets back an
//! open descriptor, never file data.
//!
//! Framing: one JSON object per line, at most [`MAX_REQUEST_BYTES`]. Each reply
//! is one JSON line sent with `sendmsg`; when it reports success it carries the
//! opened descriptor as `SCM_RIGHTS` ancillary data.

use std::io::Write;
use std::mem::MaybeUninit;
use std::os::fd::OwnedFd;
use std::os::unix::net::UnixStream;

use rustix::net::{RecvAncillaryBuffer, RecvAncillaryMessage, RecvFlags, recvmsg};
use serde::{Deserialize, Serialize};

/// Largest request line, in bytes.
pub const MAX_REQUEST_BYTES: usize = 64 * 1024;

/// A request to the portal.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "kebab-case", deny_unknown_fields)]
pub enum PortalRequest {
    /// The root directory itself (what the runtime preopens).
    Root {
        /// The root's name, such as `app-data`.
        root: String,
    },
    /// A file or directory beneath a root.
    Open {
        /// The root's name.
        root: String,
        /// A relative path beneath the root; `..`, absolute paths and symlinks
        /// that leave the root are refused by the kernel (`RESOLVE_BENEATH`).
        path: String,
        /// Open for writing (refused on read-only roots).
        #[serde(default)]
        write: bool,
        /// Create the file if it does not exist (implies writing).
        #[serde(default)]
        create: bool,
        /// Open a directory rather than a file.
        #[serde(default)]
        directory: bool,
    },
}

/// The portal's answer; an `ok` reply carries the descriptor.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PortalReply {
    /// Whether the open succeeded (and a descriptor is attached).
    pub ok: bool,
    /// Why it failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// Sends `request` to a portal and returns the reply and, on success, the
/// descriptor it carried.
pub fn request(
    stream: &UnixStream,
    request: &PortalRequest,
) -> std::io::Result<(PortalReply, Option<OwnedFd>)> {
    let mut line = serde_json::to_vec(request).map_err(std::io::Error::other)?;
    line.push(b'\n');
    (&*stream).write_all(&line)?;
    let mut buffer = vec![0u8; 64 * 1024];
    let mut space = [MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(1))];
    let mut control = RecvAncillaryBuffer::new(&mut space);
    let received = recvmsg(
        stream,
        &mut [std::io::IoSliceMut::new(&mut buffer)],
        &mut control,
        RecvFlags::CMSG_CLOEXEC,
    )?;
    let mut fd = None;
    for message in control.drain() {
        if let RecvAncillaryMessage::ScmRights(fds) = message {
            fd = fds.into_iter().next();
        }
    }
    let reply: PortalReply = serde_json::from_slice(buffer[..received.bytes].trim_ascii_end())
        .map_err(std::io::Error::other)?;
    Ok((reply, fd))
}
