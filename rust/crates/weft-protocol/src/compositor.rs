//! The compositor's control socket (`$XDG_RUNTIME_DIR/weft/compositor.sock`,
//! 0600): `weft-appd` opens a Wayland socket per session whose clients may
//! only create windows for that session's app, closes it when the session
//! ends, and hears when windows open and close. Frames as in [`crate::frame`];
//! the first exchange is [`ControlRequest::Hello`] / [`ControlReply::Welcome`].

use serde::{Deserialize, Serialize};

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
    /// Writes the last frame as PNG to `path`; answered with `OK`.
    Screenshot {
        /// Where to write it.
        path: String,
    },
}

/// An answer or an event from the compositor.
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
    /// Event: a window of a session appeared.
    WindowOpened {
        /// The session.
        session: u64,
        /// The compositor's window id.
        window: u64,
    },
    /// Event: a window of a session went away.
    WindowClosed {
        /// The session.
        session: u64,
        /// The compositor's window id.
        window: u64,
    },
}

impl ControlReply {
    /// Whether this is an event rather than the answer to a request.
    pub fn is_event(&self) -> bool {
        matches!(self, Self::WindowOpened { .. } | Self::WindowClosed { .. })
    }
}
