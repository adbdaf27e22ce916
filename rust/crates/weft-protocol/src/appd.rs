//! The supervisor's protocol: clients (the system UI, `weftctl`) talk to
//! `weft-appd` with [`Request`]s and receive a [`Reply`] to each, and the
//! [`Event`]s their authority lets them see, as [`FromAppd`] messages.
//!
//! Framing on the Unix socket: each message is a 4-byte big-endian length
//! followed by that many bytes of MessagePack (a map per message, field names
//! included), at most [`MAX_FRAME_BYTES`]. The first exchange negotiates the
//! version: the client sends [`Request::Hello`] with the versions it speaks, the
//! daemon answers [`Reply::Welcome`] with the one it picked, or an error and
//! closes the connection.

use serde::{Deserialize, Serialize};

pub use crate::frame::{FrameError, MAX_FRAME_BYTES, read_frame, write_frame};

/// The protocol version this crate speaks.
pub const PROTOCOL_VERSION: u32 = 1;

/// A request from a client to the supervisor.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "SCREAMING_SNAKE_CASE", deny_unknown_fields)]
pub enum Request {
    /// The first message on every connection: the versions the client speaks.
    Hello {
        /// Supported protocol versions.
        versions: Vec<u32>,
    },
    /// Starts a session of an installed app.
    LaunchApp {
        /// The app id (validated before any other use).
        app_id: String,
    },
    /// Ends a session: SIGTERM, a grace period, then SIGKILL.
    TerminateApp {
        /// The session.
        session: u64,
    },
    /// Lists the sessions.
    QueryRunning,
    /// The state of one session.
    QueryAppState {
        /// The session.
        session: u64,
    },
    /// Lists the installed apps, each verified.
    QueryInstalledApps,
    /// A message from the app's UI to the app.
    IpcForward {
        /// The session.
        session: u64,
        /// The text, at most 64 KiB.
        message: String,
    },
    /// A session's UI (its app shell's bridge) is here: answered with
    /// `UI_ATTACHED` and the messages the app sent before, so a UI that comes
    /// up after its app loses none of them.
    AttachUi {
        /// The session.
        session: u64,
    },
    /// Brings the session's window to the front in the compositor (the
    /// system UI's task switcher); answered with `OK`.
    FocusSession {
        /// The session.
        session: u64,
    },
    /// A gesture on the system panel, relayed to UI subscribers.
    PanelGesture {
        /// The gesture's name, such as `swipe-up`.
        gesture: String,
    },
    /// The operator's consent to launching an older version of an app than
    /// one launched before: its next launch, of any version, is admitted.
    /// Answered with `OK`; the operator's alone.
    AllowDowngrade {
        /// The app id.
        app_id: String,
    },
    /// The session's recent output (answered with `LOGS`); with `follow`, every
    /// later line comes to this connection as a `LOG_LINE` event.
    QueryLogs {
        /// The session.
        session: u64,
        /// Keep sending new lines.
        #[serde(default)]
        follow: bool,
    },
}

/// The life of a session.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SessionState {
    /// The runtime is starting; READY has not come yet.
    Starting,
    /// The app reported READY.
    Running,
    /// Termination was asked for; the runtime is being stopped.
    Stopping,
    /// The session is over; the reason says why.
    Stopped,
}

/// One session, as `RUNNING_APPS` lists it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SessionInfo {
    /// The session.
    pub session: u64,
    /// The app.
    pub app_id: String,
    /// Its state.
    pub state: SessionState,
    /// Why it stopped, once it has.
    pub reason: Option<String>,
    /// The runtime's process id, while it runs.
    pub pid: Option<u32>,
    /// Milliseconds since the session started.
    pub uptime_ms: u64,
    /// Memory in use by the session (its cgroup's `memory.current`, else the
    /// resident size of its processes), while it runs.
    pub memory_bytes: Option<u64>,
    /// CPU time the session's processes used, in milliseconds, while it runs.
    pub cpu_ms: Option<u64>,
    /// IPC messages the app sent its UI.
    pub ipc_to_ui: u64,
    /// IPC messages the UI sent the app.
    pub ipc_to_app: u64,
    /// How often the restart policy restarted the app.
    pub restarts: u32,
}

/// Which output stream a log line came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum LogStream {
    /// The app's standard output.
    Stdout,
    /// The app's standard error.
    Stderr,
    /// The runtime's own messages about the app (its sandbox, a refusal, a
    /// limit, how the app ended): never the app's words.
    Runtime,
}

/// How many of an app's messages weft-appd keeps for a UI that has not
/// attached yet.
pub const UI_BACKLOG: usize = 256;

/// An app's message kept for its UI.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QueuedMessage {
    /// Its number among the session's messages to its UI.
    pub seq: u64,
    /// The text.
    pub message: String,
}

/// One line of a session's output.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogLine {
    /// Milliseconds since the session started.
    pub at_ms: u64,
    /// The stream.
    pub stream: LogStream,
    /// The text (lines over 4 KiB are cut; invalid UTF-8 is replaced).
    pub text: String,
}

/// One installed app, as `INSTALLED_APPS` lists it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InstalledApp {
    /// The app id.
    pub app_id: String,
    /// Its version, when it verified.
    pub version: Option<String>,
    /// Its display name, when it verified.
    pub name: Option<String>,
    /// Why it did not verify, if it did not.
    pub error: Option<String>,
    /// Another listed app's name is the same or looks the same (Unicode's
    /// confusables skeleton): the system UI shows the app id with the name.
    #[serde(default)]
    pub look_alike: bool,
}

/// Why a request failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ErrorCode {
    /// The request is malformed, oversized or of an unknown type.
    BadRequest,
    /// No protocol version in common.
    UnsupportedVersion,
    /// The app id is not a valid app id.
    InvalidAppId,
    /// No such installed app or no such session.
    NotFound,
    /// The package did not verify.
    VerificationFailed,
    /// The session could not be started.
    LaunchFailed,
    /// The session is not in a state that allows the request.
    InvalidState,
    /// Too many messages too fast; the message was dropped.
    RateLimited,
    /// The connection's authority does not cover the request (an app's UI
    /// may act only for its own session).
    Forbidden,
    /// The app's version is older than one launched before; the operator
    /// must allow the downgrade (`ALLOW_DOWNGRADE`).
    Downgrade,
}

/// The answer to one request, sent to the connection that asked.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "SCREAMING_SNAKE_CASE", deny_unknown_fields)]
pub enum Reply {
    /// The answer to `HELLO`: the version in use.
    Welcome {
        /// The negotiated version.
        version: u32,
    },
    /// `LAUNCH_APP` accepted: the session exists and is starting.
    LaunchAck {
        /// The new session.
        session: u64,
        /// The app.
        app_id: String,
    },
    /// The answer to `QUERY_APP_STATE`: the session's state now.
    SessionState {
        /// The session.
        session: u64,
        /// The app.
        app_id: String,
        /// The state.
        state: SessionState,
        /// Why, when stopped.
        reason: Option<String>,
    },
    /// The answer to `QUERY_RUNNING`.
    RunningApps {
        /// Every session, newest last.
        sessions: Vec<SessionInfo>,
    },
    /// The answer to `QUERY_INSTALLED_APPS`.
    InstalledApps {
        /// Every app directory of every store root.
        apps: Vec<InstalledApp>,
    },
    /// The answer to `ATTACH_UI`: the app's messages sent before a UI
    /// attached to this run, oldest first.
    UiAttached {
        /// The session.
        session: u64,
        /// What the app sent while no UI was attached (at most
        /// [`UI_BACKLOG`], the newest kept).
        backlog: Vec<QueuedMessage>,
    },
    /// The answer to `QUERY_LOGS`: the lines kept so far, oldest first.
    Logs {
        /// The session.
        session: u64,
        /// The lines.
        lines: Vec<LogLine>,
    },
    /// Acknowledges a request that returns nothing else.
    Ok,
    /// A request failed.
    Error {
        /// What kind of failure.
        code: ErrorCode,
        /// What exactly was wrong.
        message: String,
    },
}

/// Something that happened, sent unasked to every connection whose authority
/// lets it see it (and, for log lines, that asked to follow).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "SCREAMING_SNAKE_CASE", deny_unknown_fields)]
pub enum Event {
    /// The app reported READY.
    AppReady {
        /// The session.
        session: u64,
        /// The app.
        app_id: String,
    },
    /// A session's state changed.
    AppState {
        /// The session.
        session: u64,
        /// The app.
        app_id: String,
        /// The state.
        state: SessionState,
        /// Why, when stopped.
        reason: Option<String>,
    },
    /// A message from an app for its UI.
    IpcMessage {
        /// The session.
        session: u64,
        /// The text.
        message: String,
        /// Its number among the session's messages to its UI, from 1 (0 from
        /// a sender that does not number them).
        #[serde(default)]
        seq: u64,
    },
    /// A panel gesture, for the UI.
    NavigationGesture {
        /// The gesture.
        gesture: String,
    },
    /// A notification an app asked to show.
    Notification {
        /// The session.
        session: u64,
        /// The app.
        app_id: String,
        /// Title.
        title: String,
        /// Body.
        body: String,
    },
    /// To a connection that asked to follow: a new line of output.
    LogLine {
        /// The session.
        session: u64,
        /// The line.
        line: LogLine,
    },
    /// To a connection that follows a session's output: the session stopped
    /// and no more lines come.
    LogsEnd {
        /// The session.
        session: u64,
        /// Why it stopped.
        reason: Option<String>,
    },
}

/// Anything weft-appd sends a client: a [`Reply`] or an [`Event`]. On the
/// wire both are one tagged map; their `type` names never overlap, so the
/// tag alone says which it is.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum FromAppd {
    /// The answer to a request.
    Reply(Reply),
    /// Something that happened.
    Event(Event),
}

impl From<Reply> for FromAppd {
    fn from(reply: Reply) -> Self {
        Self::Reply(reply)
    }
}

impl From<Event> for FromAppd {
    fn from(event: Event) -> Self {
        Self::Event(event)
    }
}

#[cfg(test)]
mod tests {
    use tokio::io::AsyncWriteExt;

    use super::*;

    #[tokio::test]
    async fn frames_round_trip_and_hostile_frames_are_refused() {
        let (mut client, mut server) = tokio::io::duplex(1 << 16);
        write_frame(&mut client, &Request::LaunchApp { app_id: "org.weft.hello".into() })
            .await
            .unwrap();
        write_frame(&mut client, &Request::QueryRunning).await.unwrap();
        assert_eq!(
            read_frame::<Request>(&mut server).await.unwrap(),
            Request::LaunchApp { app_id: "org.weft.hello".into() }
        );
        assert_eq!(read_frame::<Request>(&mut server).await.unwrap(), Request::QueryRunning);

        client.write_all(&u32::MAX.to_be_bytes()).await.unwrap();
        assert!(matches!(read_frame::<Request>(&mut server).await, Err(FrameError::TooLarge(_))));

        let (mut client, mut server) = tokio::io::duplex(1 << 16);
        client.write_all(&[0, 0, 0, 3, 0xc1, 0xc1, 0xc1]).await.unwrap();
        assert!(matches!(read_frame::<Request>(&mut server).await, Err(FrameError::Malformed(_))));
        let unknown =
            rmp_serde::to_vec_named(&serde_json::json!({"type": "LAUNCH_MISSILES"})).unwrap();
        client.write_all(&(unknown.len() as u32).to_be_bytes()).await.unwrap();
        client.write_all(&unknown).await.unwrap();
        assert!(matches!(read_frame::<Request>(&mut server).await, Err(FrameError::Malformed(_))));
        drop(client);
        assert!(matches!(read_frame::<Request>(&mut server).await, Err(FrameError::Closed)));
    }

    #[test]
    fn messages_are_internally_tagged_in_json_too() {
        let json = serde_json::to_string(&Event::AppState {
            session: 3,
            app_id: "org.weft.hello".into(),
            state: SessionState::Stopped,
            reason: Some("ready-timeout".into()),
        })
        .unwrap();
        assert_eq!(
            json,
            r#"{"type":"APP_STATE","session":3,"app_id":"org.weft.hello","state":"stopped","reason":"ready-timeout"}"#
        );
    }

    #[test]
    fn replies_and_events_keep_their_side_through_both_encodings() {
        let state = SessionState::Running;
        let replies = [
            Reply::Welcome { version: 1 },
            Reply::LaunchAck { session: 1, app_id: "a.b".into() },
            Reply::SessionState { session: 1, app_id: "a.b".into(), state, reason: None },
            Reply::RunningApps { sessions: Vec::new() },
            Reply::InstalledApps { apps: Vec::new() },
            Reply::UiAttached { session: 1, backlog: Vec::new() },
            Reply::Logs { session: 1, lines: Vec::new() },
            Reply::Ok,
            Reply::Error { code: ErrorCode::Forbidden, message: "no".into() },
        ];
        let events = [
            Event::AppReady { session: 1, app_id: "a.b".into() },
            Event::AppState { session: 1, app_id: "a.b".into(), state, reason: None },
            Event::IpcMessage { session: 1, message: "m".into(), seq: 1 },
            Event::NavigationGesture { gesture: "home".into() },
            Event::Notification {
                session: 1,
                app_id: "a.b".into(),
                title: "t".into(),
                body: "b".into(),
            },
            Event::LogLine {
                session: 1,
                line: LogLine { at_ms: 0, stream: LogStream::Stdout, text: "x".into() },
            },
            Event::LogsEnd { session: 1, reason: None },
        ];
        let messages =
            replies.into_iter().map(FromAppd::from).chain(events.into_iter().map(FromAppd::from));
        for message in messages {
            let packed = rmp_serde::to_vec_named(&message).unwrap();
            assert_eq!(rmp_serde::from_slice::<FromAppd>(&packed).unwrap(), message);
            let json = serde_json::to_string(&message).unwrap();
            assert_eq!(serde_json::from_str::<FromAppd>(&json).unwrap(), message, "{json}");
        }
    }
}
