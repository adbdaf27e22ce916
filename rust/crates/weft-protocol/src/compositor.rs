//! The compositor's control socket (`$XDG_RUNTIME_DIR/weft/compositor.sock`,
//! 0600): `weft-appd` opens a Wayland socket per session whose clients may
//! only create windows for that session's app, closes it when the session
//! ends, and hears when windows open and close. Frames as in [`crate::frame`];
//! the first exchange is [`ControlRequest::Hello`] / [`ControlReply::Welcome`].

use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::frame::{FrameError, read_frame_sync, write_frame_sync};

/// The control protocol version this crate speaks.
pub const CONTROL_PROTOCOL_VERSION: u32 = 1;

/// A request to the compositor.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "SCREAMING_SNAKE_CASE", deny_unknown_fields)]
pub enum ControlRequest {
    /// The first message: the versions the client speaks.
    Hello {
        /// Supported versions.
        versions: Vec<u32>,
    },
    /// Opens a Wayland socket for a session; answered with `SESSION_OPENED`.
    OpenSession {
        /// The session.
        session: u64,
        /// The app its windows belong to.
        app_id: String,
    },
    /// Closes the session's socket and its windows (`window_closed` with
    /// `reason`); answered with `OK`.
    CloseSession {
        /// The session.
        session: u64,
        /// Why, for the windows' clients.
        reason: String,
    },
    /// Focuses the session's application window (shows it and gives it the
    /// keyboard); answered with `OK`, or an `ERROR` if it has none.
    FocusSession {
        /// The session.
        session: u64,
    },
    /// Writes the last frame as PNG to `path`; answered with `OK`.
    Screenshot {
        /// Where to write it.
        path: String,
    },
}

/// The compositor's answer to one request.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "SCREAMING_SNAKE_CASE", deny_unknown_fields)]
pub enum ControlReply {
    /// The answer to `HELLO`.
    Welcome {
        /// The version in use.
        version: u32,
    },
    /// The session's socket: the value for the app shell's `WAYLAND_DISPLAY`.
    SessionOpened {
        /// The session.
        session: u64,
        /// The socket's name in the compositor's `XDG_RUNTIME_DIR`.
        wayland_display: String,
    },
    /// A request that returns nothing else succeeded.
    Ok,
    /// A request failed.
    Error {
        /// What was wrong.
        message: String,
    },
}

/// Something that happened to a session's windows, sent unasked to every
/// control connection.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "SCREAMING_SNAKE_CASE", deny_unknown_fields)]
pub enum ControlEvent {
    /// A window of a session appeared.
    WindowOpened {
        /// The session.
        session: u64,
        /// The compositor's window id.
        window: u64,
    },
    /// A window of a session went away.
    WindowClosed {
        /// The session.
        session: u64,
        /// The compositor's window id.
        window: u64,
    },
}

/// Anything the compositor sends on its control socket: a [`ControlReply`]
/// or a [`ControlEvent`], told apart by their `type` names, which never
/// overlap.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum FromCompositor {
    /// The answer to a request.
    Reply(ControlReply),
    /// Something that happened.
    Event(ControlEvent),
}

impl From<ControlReply> for FromCompositor {
    fn from(reply: ControlReply) -> Self {
        Self::Reply(reply)
    }
}

impl From<ControlEvent> for FromCompositor {
    fn from(event: ControlEvent) -> Self {
        Self::Event(event)
    }
}

/// How long [`request`] waits for the compositor.
const TIMEOUT: Duration = Duration::from_secs(10);

/// Why [`request`] failed.
#[derive(Debug, thiserror::Error)]
pub enum ControlError {
    /// The socket could not be reached.
    #[error("connecting to the compositor at {}: {source}", path.display())]
    Connect {
        /// The control socket.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The connection failed or carried something else than a message.
    #[error(transparent)]
    Frame(#[from] FrameError),
    /// The compositor did not accept the handshake.
    #[error("the compositor refused the handshake: {0:?}")]
    Handshake(ControlReply),
}

/// Sends one request on a new connection to the control socket at `socket`
/// (handshake first) and returns the answer; events are skipped.
pub fn request(socket: &Path, request: &ControlRequest) -> Result<ControlReply, ControlError> {
    let mut stream = UnixStream::connect(socket)
        .map_err(|source| ControlError::Connect { path: socket.to_owned(), source })?;
    stream.set_read_timeout(Some(TIMEOUT)).map_err(FrameError::from)?;
    stream.set_write_timeout(Some(TIMEOUT)).map_err(FrameError::from)?;
    let mut exchange = |message: &ControlRequest| -> Result<ControlReply, FrameError> {
        write_frame_sync(&mut stream, message)?;
        loop {
            if let FromCompositor::Reply(reply) = read_frame_sync(&mut stream)? {
                return Ok(reply);
            }
        }
    };
    match exchange(&ControlRequest::Hello { versions: vec![CONTROL_PROTOCOL_VERSION] })? {
        ControlReply::Welcome { .. } => Ok(exchange(request)?),
        other => Err(ControlError::Handshake(other)),
    }
}
