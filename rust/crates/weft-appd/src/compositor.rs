//! weft-appd's side of the compositor's control socket
//! (`weft_protocol::compositor`): one short connection per request.

use std::path::Path;

use anyhow::{Result, bail};
use weft_protocol::compositor::{ControlReply, ControlRequest, request};

/// Opens the session's Wayland socket; returns the `WAYLAND_DISPLAY` for its
/// app shell.
pub fn open_session(socket: &Path, session: u64, app_id: &str) -> Result<String> {
    let open = ControlRequest::OpenSession { session, app_id: app_id.to_owned() };
    match request(socket, &open)? {
        ControlReply::SessionOpened { wayland_display, .. } => Ok(wayland_display),
        ControlReply::Error { message } => bail!("the compositor refused the session: {message}"),
        other => bail!("unexpected answer from the compositor: {other:?}"),
    }
}

/// Closes the session's Wayland socket and windows.
pub fn close_session(socket: &Path, session: u64, reason: String) -> Result<()> {
    match request(socket, &ControlRequest::CloseSession { session, reason })? {
        ControlReply::Ok => Ok(()),
        other => bail!("the compositor did not close session {session}: {other:?}"),
    }
}

/// Brings the session's window to the front.
pub fn focus_session(socket: &Path, session: u64) -> Result<()> {
    match request(socket, &ControlRequest::FocusSession { session })? {
        ControlReply::Ok => Ok(()),
        ControlReply::Error { message } => bail!("{message}"),
        other => bail!("unexpected answer from the compositor: {other:?}"),
    }
}
