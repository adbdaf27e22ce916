//! weft-appd's side of the compositor's control socket
//! (`weft_protocol::compositor`): one short connection per request.

use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use weft_protocol::compositor::{CONTROL_PROTOCOL_VERSION, ControlReply, ControlRequest};
use weft_protocol::frame::{read_frame_sync, write_frame_sync};

/// How long the compositor has to answer.
const TIMEOUT: Duration = Duration::from_secs(10);

/// Sends `request` and returns the compositor's answer (events are skipped).
pub fn request(socket: &Path, request: &ControlRequest) -> Result<ControlReply> {
    let mut stream = UnixStream::connect(socket)
        .with_context(|| format!("connecting to the compositor at {}", socket.display()))?;
    stream.set_read_timeout(Some(TIMEOUT))?;
    stream.set_write_timeout(Some(TIMEOUT))?;
    let mut exchange = |message: &ControlRequest| -> Result<ControlReply> {
        write_frame_sync(&mut stream, message)?;
        loop {
            let reply: ControlReply = read_frame_sync(&mut stream)?;
            if !reply.is_event() {
                return Ok(reply);
            }
        }
    };
    match exchange(&ControlRequest::Hello { versions: vec![CONTROL_PROTOCOL_VERSION] })? {
        ControlReply::Welcome { .. } => {}
        other => bail!("the compositor refused the handshake: {other:?}"),
    }
    exchange(request)
}

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
