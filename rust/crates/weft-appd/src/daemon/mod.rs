//! Sessions: launching a verified app in `weft-runtime`, waiting for READY,
//! supervising the process, relaying its session channel, terminating it.

use std::collections::{BTreeMap, VecDeque};
use std::fs;
use std::os::fd::AsRawFd;
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use rustix::process::{Pid, Signal, kill_process_group};
use tokio::io::{AsyncWriteExt, BufReader};
use tokio::net::UnixListener;
use tokio::net::unix::OwnedWriteHalf;
use tokio::process::Command;
use tokio::sync::{broadcast, oneshot};
use weft_manifest::{AppId, Capability, Directory};
use weft_protocol::appd::{
    ErrorCode, Event, InstalledApp, LogLine, LogStream, QueuedMessage, Reply, SessionInfo,
    SessionState, UI_BACKLOG,
};
use weft_protocol::portal::{self, PortalRequest};
use weft_protocol::runtime::{APP_EXIT_STATUS, Exit};
use weft_protocol::session::{
    BoundedLine, FrameError as SessionFrameError, FromApp, IPC_BURST, IPC_PER_SECOND,
    MAX_IPC_MESSAGE_BYTES, NOTIFY_BURST, NOTIFY_PER_SECOND, RateLimit, ToApp, read_bounded_line,
    read_message_async,
};
use weft_verify::keys::TrustedKeys;

use crate::authority::SessionProcesses;
use crate::cgroup::{Cgroups, SessionCgroup};
use crate::config::Config;
use crate::image_mounts::{ImageMounts, MountError, MountTable};
use crate::lifecycle::{Effect, Input, Lifecycle, Refused};
use crate::usage;
use crate::versions::{Refusal, VersionLedger};

mod artifacts;
mod file_check;
mod launch;
mod relay;
mod spare;
mod spawn;
mod supervise;

use self::supervise::kill_group;

/// Events kept for clients that read slowly; older ones are dropped for them.
const EVENT_BACKLOG: usize = 1024;

/// A failed request: the code and message sent back to the client.
#[derive(Debug)]
pub struct Failure {
    /// The error code.
    pub code: ErrorCode,
    /// What was wrong.
    pub message: String,
}

impl From<MountError> for Failure {
    fn from(error: MountError) -> Self {
        let code = match error {
            MountError::Unreachable(_) => ErrorCode::LaunchFailed,
            MountError::Refused { .. } => ErrorCode::VerificationFailed,
        };
        Self::new(code, error.to_string())
    }
}

impl Failure {
    fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self { code, message: message.into() }
    }
}

/// Log lines kept per session; older ones are dropped.
const MAX_LOG_LINES: usize = 1000;
/// Longest log line kept, in bytes; the rest of a longer line is dropped.
const MAX_LOG_LINE_BYTES: usize = 4096;
/// The read buffer of each of a run's four output streams: output is a few
/// lines now and then, and every session holds four (at the default 8 KiB,
/// the daemon with 50 sessions measured 10.9 MiB; at 1 KiB, 9.1 MiB).
const OUTPUT_READ_BYTES: usize = 1024;

/// The read buffer of a session's channel from its runtime: its messages are
/// lines of tens of bytes, and every session holds one (a line longer than
/// the buffer is still read whole, in more than one read). At the default
/// 8 KiB, 50 sessions held 400 KiB of them.
const CHANNEL_READ_BYTES: usize = 2048;
/// Stopped sessions remembered for `ps` and `logs`; older ones are forgotten.
const MAX_STOPPED_SESSIONS: usize = 64;

/// What a started run of a session consists of, handed to its supervising task.
struct Processes {
    child: tokio::process::Child,
    portal: spawn::Portal,
    stdout: tokio::process::ChildStdout,
    /// Read the runtime's stderr and the app's stdout and stderr into the
    /// session's log; done at their ends.
    output_pumps: Vec<tokio::task::JoinHandle<()>>,
    listener: UnixListener,
    session_dir: PathBuf,
    cgroup: Option<SessionCgroup>,
}

/// What is needed to start (and restart) a session's app.
#[derive(Clone)]
struct Launch {
    id: AppId,
    /// The manifest's (verified) version.
    version: semver::Version,
    package: PathBuf,
    capabilities: Vec<Capability>,
    /// The manifest's `limits.cpu`, in percent of one core.
    cpu_percent: Option<u32>,
    /// What the runtime is told of the package's bytes.
    digests: Digests,
}

/// What the runtime is told of a package's bytes.
#[derive(Clone)]
enum Digests {
    /// A package in the writable store: the signed SHA-256 of the manifest
    /// and of the component; the runtime refuses other bytes.
    Verified { manifest: String, component: String },
    /// An image mount, which cannot change: the component's SHA-256, computed
    /// once for the mount, the key of its artifact.
    ArtifactKey(String),
}

impl Digests {
    /// The component's SHA-256: the key of its artifact.
    fn component(&self) -> &str {
        match self {
            Self::Verified { component, .. } | Self::ArtifactKey(component) => component,
        }
    }
}

impl Launch {
    /// A launch of `id` from `package`, as its verified `manifest` says.
    fn new(
        id: AppId,
        package: PathBuf,
        manifest: weft_manifest::Manifest,
        digests: Digests,
    ) -> Self {
        Self {
            id,
            version: manifest.version,
            package,
            capabilities: manifest.capabilities,
            cpu_percent: manifest.limits.cpu_percent,
            digests,
        }
    }
}

/// Every session's new log lines, tagged with their session; `None` when the
/// session stopped (with its reason).
pub type LogFollower = broadcast::Receiver<(u64, LogItem)>;

/// A new line of a session's output, or its end.
#[derive(Clone, Debug)]
pub enum LogItem {
    /// A line.
    Line(LogLine),
    /// The session stopped, for this reason; no line follows.
    End(Option<String>),
}

/// A session's kept output and how to follow it.
pub struct LogSnapshot {
    /// The lines kept so far, oldest first.
    pub lines: Vec<LogLine>,
    /// Every later line, when following a session that still runs.
    pub follower: Option<LogFollower>,
    /// The session's reason, when it already stopped.
    pub stopped: Option<Option<String>>,
}

/// One session's record.
struct Session {
    app_id: String,
    /// Its state and the rules it moves by.
    life: Lifecycle,
    /// Why the current run is ending, once something decided it (a kill, a timeout).
    cause: Option<String>,
    pid: Option<u32>,
    /// Every process of the current run that is not in the runtime's group.
    helper_pids: Vec<u32>,
    cgroup: Option<PathBuf>,
    started: Instant,
    channel: Option<Arc<tokio::sync::Mutex<OwnedWriteHalf>>>,
    logs: VecDeque<LogLine>,
    ipc_to_ui: u64,
    ipc_to_app: u64,
    forward_rate: RateLimit,
    /// Whether this run's UI attached (`ATTACH_UI`); until it does, the app's
    /// messages are also kept in `ui_backlog` for it.
    ui_attached: bool,
    ui_backlog: VecDeque<QueuedMessage>,
}

impl Session {
    /// The current run's processes: the runtime and the session's others.
    fn pids(&self) -> Vec<u32> {
        self.pid.iter().chain(&self.helper_pids).copied().collect()
    }
}

/// The supervisor's state, shared by every connection and session task.
pub struct Daemon {
    config: Config,
    cgroups: Option<Cgroups>,
    sessions: Mutex<BTreeMap<u64, Session>>,
    next_session: Mutex<u64>,
    events: broadcast::Sender<Event>,
    log_lines: broadcast::Sender<(u64, LogItem)>,
    clipboard: Mutex<Option<String>>,
    /// Held while a child is spawned with inherited directory descriptors, so no
    /// other child inherits them.
    spawning: Mutex<()>,
    /// The runtime started ahead for the next launch (see `spare.rs`).
    spare: tokio::sync::Mutex<Option<spare::Spare>>,
    /// Mounted app images: each app's mount point and how many sessions use it.
    mounts: MountTable,
    /// The precompiled artifacts already checked against their records.
    artifacts: artifacts::CheckedArtifacts,
    /// The store packages' signed statements already verified, by their
    /// signature file's bytes, and the manifests they sign, parsed.
    statements: weft_verify::verified_statements::VerifiedStatements,
    /// The trusted keys decoded before, by their files' text.
    decoded_keys: weft_verify::keys::DecodedKeys,
    /// App shells' session channels, for the server to serve with that
    /// session's authority.
    ui_channels: tokio::sync::mpsc::UnboundedSender<(u64, std::os::unix::net::UnixStream)>,
    ui_channel_receiver: Mutex<Option<UiChannels>>,
    /// The newest version launched of each app.
    versions: VersionLedger,
}

/// Where the server takes app shells' session channels from.
pub type UiChannels = tokio::sync::mpsc::UnboundedReceiver<(u64, std::os::unix::net::UnixStream)>;

impl Daemon {
    /// A daemon with no sessions; it takes over its cgroup if it is delegated.
    /// Fails when its version ledger cannot be read.
    pub fn new(config: Config) -> anyhow::Result<Arc<Self>> {
        // No session outlives its daemon (its processes die with it), so what
        // a killed daemon left in `sessions/` is stale: its sockets would stop
        // this daemon's sessions of the same numbers from binding.
        let stale = config.runtime_dir.join("sessions");
        match fs::remove_dir_all(&stale) {
            Ok(()) => {
                tracing::info!(dir = %stale.display(), "removed a previous daemon's sessions");
            }
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => {}
            Err(error) => {
                tracing::warn!(dir = %stale.display(), "cannot remove stale sessions: {error}");
            }
        }
        let (events, _) = broadcast::channel(EVENT_BACKLOG);
        let (log_lines, _) = broadcast::channel(EVENT_BACKLOG);
        let (ui_channels, ui_channel_receiver) = tokio::sync::mpsc::unbounded_channel();
        let versions = VersionLedger::load(&config.state_dir)?;
        Ok(Arc::new(Self {
            cgroups: Cgroups::detect(config.cgroups, config.session_limits.clone()),
            config,
            sessions: Mutex::new(BTreeMap::new()),
            next_session: Mutex::new(1),
            events,
            log_lines,
            clipboard: Mutex::new(None),
            mounts: MountTable::default(),
            artifacts: artifacts::CheckedArtifacts::default(),
            statements: weft_verify::verified_statements::VerifiedStatements::new(),
            decoded_keys: weft_verify::keys::DecodedKeys::new(),
            spawning: Mutex::new(()),
            spare: tokio::sync::Mutex::new(None),
            ui_channels,
            ui_channel_receiver: Mutex::new(Some(ui_channel_receiver)),
            versions,
        }))
    }

    /// The app shells' session channels (once: the server takes them).
    pub fn take_ui_channels(&self) -> Option<UiChannels> {
        self.ui_channel_receiver.lock().expect("ui channel lock").take()
    }

    /// Every session's known processes and cgroup, to tell a session's
    /// process from the operator.
    pub fn session_processes(&self) -> Vec<SessionProcesses> {
        let sessions = self.sessions.lock().expect("sessions lock");
        sessions
            .iter()
            .map(|(&session, record)| SessionProcesses {
                session,
                pids: record.pids(),
                cgroup: record.cgroup.clone(),
            })
            .collect()
    }

    /// The configuration.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// A receiver of every broadcast event from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<Event> {
        self.events.subscribe()
    }

    /// Broadcasts an event to every connected client.
    pub fn broadcast(&self, event: Event) {
        // No subscribers is not an error.
        let _ = self.events.send(event);
    }

    fn with_session<T>(&self, session: u64, f: impl FnOnce(&mut Session) -> T) -> Option<T> {
        self.sessions.lock().expect("sessions lock").get_mut(&session).map(f)
    }

    /// Feeds `input` to the session's [`Lifecycle`], announces the states it
    /// enters (a stopped session's run is forgotten, its log followers told)
    /// and returns the other effects for the caller to carry out. `None`: no
    /// such session.
    fn step(&self, session: u64, input: Input) -> Option<Result<Vec<Effect>, Refused>> {
        let (app_id, effects) = {
            let mut sessions = self.sessions.lock().expect("sessions lock");
            let record = sessions.get_mut(&session)?;
            let effects = match record.life.on(input) {
                Ok(effects) => effects,
                Err(refused) => return Some(Err(refused)),
            };
            let app_id = record.app_id.clone();
            if let Some(reason) = effects.iter().find_map(|effect| match effect {
                Effect::Announce(SessionState::Stopped, reason) => Some(reason.clone()),
                _ => None,
            }) {
                // Under the lock, so a follower subscribing now sees either the
                // state or this end.
                let _ = self.log_lines.send((session, LogItem::End(reason)));
                record.pid = None;
                record.helper_pids.clear();
                record.cgroup = None;
                record.channel = None;
                forget_old_sessions(&mut sessions);
            }
            (app_id, effects)
        };
        Some(Ok(self.announce(session, &app_id, effects)))
    }

    /// [`Daemon::step`] for inputs that cannot be refused: the effects, none
    /// for a session that is gone.
    fn effects_of(&self, session: u64, input: Input) -> Vec<Effect> {
        self.step(session, input).and_then(Result::ok).unwrap_or_default()
    }

    /// Broadcasts the states `effects` announce; returns the rest.
    fn announce(&self, session: u64, app_id: &str, effects: Vec<Effect>) -> Vec<Effect> {
        let mut rest = Vec::new();
        for effect in effects {
            match effect {
                Effect::Announce(state, reason) => {
                    tracing::info!(session, app = %app_id, ?state, reason = reason.as_deref().unwrap_or(""), "session state");
                    let app_id = app_id.to_owned();
                    self.broadcast(Event::AppState { session, app_id, state, reason });
                }
                other => rest.push(other),
            }
        }
        rest
    }

    /// The sessions, oldest first, with what each one uses.
    pub fn running(&self) -> Vec<SessionInfo> {
        let listed: Vec<_> = {
            let sessions = self.sessions.lock().expect("sessions lock");
            sessions
                .iter()
                .map(|(&session, record)| {
                    let pids = record.pids();
                    let info = SessionInfo {
                        session,
                        app_id: record.app_id.clone(),
                        state: record.life.state(),
                        reason: record.life.reason().map(str::to_owned),
                        pid: record.pid,
                        uptime_ms: record.started.elapsed().as_millis() as u64,
                        memory_bytes: None,
                        cpu_ms: None,
                        ipc_to_ui: record.ipc_to_ui,
                        ipc_to_app: record.ipc_to_app,
                        restarts: record.life.restarts(),
                    };
                    (info, record.cgroup.clone(), pids)
                })
                .collect()
        };
        listed
            .into_iter()
            .map(|(mut info, cgroup, pids)| {
                if info.pid.is_some() {
                    let usage = usage::of_session(cgroup.as_deref(), &pids);
                    info.memory_bytes = usage.memory_bytes;
                    info.cpu_ms = usage.cpu_ms;
                }
                info
            })
            .collect()
    }

    /// The session's UI is here: from now on the app's messages are only
    /// broadcast; what it sent before comes back, oldest first.
    pub fn attach_ui(&self, session: u64) -> Result<Vec<QueuedMessage>, Failure> {
        self.with_session(session, |record| {
            record.ui_attached = true;
            record.ui_backlog.drain(..).collect()
        })
        .ok_or_else(|| no_session(session))
    }

    /// Brings a running session's window to the front in the compositor.
    pub async fn focus(&self, session: u64) -> Result<(), Failure> {
        let state = self
            .with_session(session, |record| record.life.state())
            .ok_or_else(|| no_session(session))?;
        if state != SessionState::Running {
            return Err(Failure::new(
                ErrorCode::InvalidState,
                format!("session {session} is {state:?}, not running").to_lowercase(),
            ));
        }
        let Some(socket) = self.config.compositor_socket.clone() else {
            return Err(Failure::new(
                ErrorCode::InvalidState,
                "weft-appd has no compositor to focus windows in (compositor-socket)",
            ));
        };
        tokio::task::spawn_blocking(move || crate::compositor::focus_session(&socket, session))
            .await
            .map_err(|error| Failure::new(ErrorCode::InvalidState, error.to_string()))?
            .map_err(|error| Failure::new(ErrorCode::InvalidState, format!("{error:#}")))
    }

    /// One session's state.
    pub fn state_of(&self, session: u64) -> Result<Reply, Failure> {
        self.with_session(session, |record| Reply::SessionState {
            session,
            app_id: record.app_id.clone(),
            state: record.life.state(),
            reason: record.life.reason().map(str::to_owned),
        })
        .ok_or_else(|| no_session(session))
    }

    /// The session's kept output and, when `follow`, a receiver of every line
    /// after it (taken together, so none is missed or repeated).
    pub fn logs(&self, session: u64, follow: bool) -> Result<LogSnapshot, Failure> {
        let sessions = self.sessions.lock().expect("sessions lock");
        let record = sessions.get(&session).ok_or_else(|| no_session(session))?;
        let stopped = (record.life.state() == SessionState::Stopped)
            .then(|| record.life.reason().map(str::to_owned));
        Ok(LogSnapshot {
            lines: record.logs.iter().cloned().collect(),
            follower: (follow && stopped.is_none()).then(|| self.log_lines.subscribe()),
            stopped,
        })
    }

    /// Gives back the image mounts a killed predecessor held (the mount
    /// service counts them for this user), so none outlives its session.
    pub async fn release_predecessors_mounts(&self) {
        let Some(image_mounts) = &self.config.image_mounts else { return };
        match image_mounts.release_all().await {
            Ok(unmounted) if unmounted.is_empty() => {}
            Ok(unmounted) => {
                tracing::info!(apps = unmounted, "unmounted a previous daemon's images");
            }
            Err(error) => tracing::warn!("cannot release a previous daemon's mounts: {error}"),
        }
    }

    /// Kills every session's processes (daemon shutdown).
    pub fn kill_all(&self) {
        for record in self.sessions.lock().expect("sessions lock").values() {
            kill_group(record.pid, Signal::KILL);
            for &pid in &record.helper_pids {
                kill_group(Some(pid), Signal::KILL);
            }
        }
    }
}

fn no_session(session: u64) -> Failure {
    Failure::new(ErrorCode::NotFound, format!("no session {session}"))
}

/// Drops the oldest stopped sessions beyond [`MAX_STOPPED_SESSIONS`].
fn forget_old_sessions(sessions: &mut BTreeMap<u64, Session>) {
    let stopped: Vec<u64> = sessions
        .iter()
        .filter(|(_, record)| record.life.state() == SessionState::Stopped)
        .map(|(&session, _)| session)
        .collect();
    for session in stopped.iter().take(stopped.len().saturating_sub(MAX_STOPPED_SESSIONS)) {
        sessions.remove(session);
    }
}

/// Makes `path` (a socket or directory) private to the owner.
pub fn make_private(path: &Path, mode: u32) -> std::io::Result<()> {
    fs::set_permissions(path, fs::Permissions::from_mode(mode))
}
