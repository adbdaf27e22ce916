//! Sessions: launching a verified app in `weft-runtime`, waiting for READY,
//! supervising the process, relaying its session channel, terminating it.

use std::collections::{BTreeMap, HashMap, VecDeque};
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
use weft_protocol::runtime::Exit;
use weft_protocol::session::{
    BoundedLine, FrameError as SessionFrameError, FromApp, IPC_BURST, IPC_PER_SECOND,
    MAX_IPC_MESSAGE_BYTES, NOTIFY_BURST, NOTIFY_PER_SECOND, RateLimit, ToApp, read_bounded_line,
    read_message_async,
};
use weft_verify::keys::TrustedKeys;

use crate::authority::SessionProcesses;
use crate::cgroup::{Cgroups, SessionCgroup};
use crate::config::Config;
use crate::image_mounts::{ImageMounts, MountAction, MountError};
use crate::usage;
use crate::versions::{Refusal, VersionLedger};

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
/// Stopped sessions remembered for `ps` and `logs`; older ones are forgotten.
const MAX_STOPPED_SESSIONS: usize = 64;

/// What a started run of a session consists of, handed to its supervising task.
struct Processes {
    child: tokio::process::Child,
    portal: Option<tokio::process::Child>,
    stdout: tokio::process::ChildStdout,
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
    /// The SHA-256 of the manifest and the component as verified, for a
    /// package in a writable store (an image mount cannot change).
    verified_digests: Option<(String, String)>,
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
    state: SessionState,
    reason: Option<String>,
    /// Why the current run is ending, once something decided it (a kill, a timeout).
    cause: Option<String>,
    /// Termination was asked for: no restart.
    stop_requested: bool,
    pid: Option<u32>,
    /// Every process of the current run that is not in the runtime's group.
    helper_pids: Vec<u32>,
    cgroup: Option<PathBuf>,
    started: Instant,
    channel: Option<Arc<tokio::sync::Mutex<OwnedWriteHalf>>>,
    logs: VecDeque<LogLine>,
    ipc_to_ui: u64,
    ipc_to_app: u64,
    restarts: u32,
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
    /// Mounted app images: each app's mount point and how many sessions use it.
    mounts: tokio::sync::Mutex<HashMap<String, (PathBuf, usize)>>,
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
            mounts: tokio::sync::Mutex::new(HashMap::new()),
            spawning: Mutex::new(()),
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

    fn set_state(&self, session: u64, state: SessionState, reason: Option<String>) {
        let app_id = {
            let mut sessions = self.sessions.lock().expect("sessions lock");
            let Some(record) = sessions.get_mut(&session) else { return };
            if record.state == SessionState::Stopped {
                return;
            }
            record.state = state;
            record.reason.clone_from(&reason);
            let app_id = record.app_id.clone();
            if state == SessionState::Stopped {
                // Under the lock, so a follower subscribing now sees either the
                // state or this end.
                let _ = self.log_lines.send((session, LogItem::End(reason.clone())));
                record.pid = None;
                record.helper_pids.clear();
                record.cgroup = None;
                record.channel = None;
                forget_old_sessions(&mut sessions);
            }
            app_id
        };
        tracing::info!(session, app = %app_id, ?state, reason = reason.as_deref().unwrap_or(""), "session state");
        self.broadcast(Event::AppState { session, app_id, state, reason });
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
                        state: record.state,
                        reason: record.reason.clone(),
                        pid: record.pid,
                        uptime_ms: record.started.elapsed().as_millis() as u64,
                        memory_bytes: None,
                        cpu_ms: None,
                        ipc_to_ui: record.ipc_to_ui,
                        ipc_to_app: record.ipc_to_app,
                        restarts: record.restarts,
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
        let state =
            self.with_session(session, |record| record.state).ok_or_else(|| no_session(session))?;
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
            state: record.state,
            reason: record.reason.clone(),
        })
        .ok_or_else(|| no_session(session))
    }

    /// The session's kept output and, when `follow`, a receiver of every line
    /// after it (taken together, so none is missed or repeated).
    pub fn logs(&self, session: u64, follow: bool) -> Result<LogSnapshot, Failure> {
        let sessions = self.sessions.lock().expect("sessions lock");
        let record = sessions.get(&session).ok_or_else(|| no_session(session))?;
        let stopped = (record.state == SessionState::Stopped).then(|| record.reason.clone());
        Ok(LogSnapshot {
            lines: record.logs.iter().cloned().collect(),
            follower: (follow && stopped.is_none()).then(|| self.log_lines.subscribe()),
            stopped,
        })
    }

    /// Keeps a line of a session's output and sends it to its followers.
    fn log(&self, session: u64, stream: LogStream, text: &[u8]) {
        let mut sessions = self.sessions.lock().expect("sessions lock");
        let Some(record) = sessions.get_mut(&session) else { return };
        let line = LogLine {
            at_ms: record.started.elapsed().as_millis() as u64,
            stream,
            text: String::from_utf8_lossy(text).into_owned(),
        };
        tracing::debug!(session, app = %record.app_id, ?stream, "{}", line.text);
        if record.logs.len() == MAX_LOG_LINES {
            record.logs.pop_front();
        }
        record.logs.push_back(line.clone());
        let _ = self.log_lines.send((session, LogItem::Line(line)));
    }

    /// Lets the next launch of `app_id` be of any version (the operator's
    /// consent to a downgrade); says which version it forgets.
    pub fn allow_downgrade(&self, app_id: &str) -> Result<Option<semver::Version>, Failure> {
        let id = AppId::new(app_id).map_err(|error| {
            Failure::new(ErrorCode::InvalidAppId, format!("{app_id:?} is not an app id: {error}"))
        })?;
        let forgotten = self
            .versions
            .allow_downgrade(&id)
            .map_err(|error| Failure::new(ErrorCode::InvalidState, format!("{error:#}")))?;
        tracing::warn!(app = %id, ?forgotten, "the operator allowed a downgrade");
        Ok(forgotten)
    }

    /// Every app in every store root, verified.
    pub fn installed(&self) -> Result<Vec<InstalledApp>, Failure> {
        Ok(crate::installed::list(&self.config.store_roots, &self.trusted()?))
    }

    fn trusted(&self) -> Result<TrustedKeys, Failure> {
        TrustedKeys::load(&self.config.trusted_keys).map_err(|error| {
            Failure::new(ErrorCode::VerificationFailed, format!("{:#}", anyhow::Error::from(error)))
        })
    }

    /// Starts a session of `app_id`: validates the id, finds and verifies the
    /// package, starts `weft-runtime`, and returns the new session id. READY,
    /// the state changes and the end of the session come as events.
    pub async fn launch(self: &Arc<Self>, app_id: &str) -> Result<u64, Failure> {
        let id = AppId::new(app_id).map_err(|error| {
            Failure::new(ErrorCode::InvalidAppId, format!("{app_id:?} is not an app id: {error}"))
        })?;
        let launch = match &self.config.image_mounts {
            Some(mounts) => self.launch_from_image(mounts, id).await?,
            None => self.launch_from_store(id).await?,
        };
        if let Err(refusal) = self.versions.admit(&launch.id, &launch.version) {
            tracing::warn!(app = %launch.id, "launch refused: {refusal}");
            self.release_image(&launch.id).await;
            let code = match refusal {
                Refusal::Downgrade { .. } => ErrorCode::Downgrade,
                Refusal::Write { .. } => ErrorCode::LaunchFailed,
            };
            return Err(Failure::new(code, refusal.to_string()));
        }

        let session = {
            let mut next = self.next_session.lock().expect("session counter lock");
            let session = *next;
            *next += 1;
            session
        };
        self.sessions.lock().expect("sessions lock").insert(
            session,
            Session {
                app_id: launch.id.to_string(),
                state: SessionState::Starting,
                reason: None,
                cause: None,
                stop_requested: false,
                pid: None,
                helper_pids: Vec::new(),
                cgroup: None,
                started: Instant::now(),
                channel: None,
                logs: VecDeque::new(),
                ipc_to_ui: 0,
                ipc_to_app: 0,
                restarts: 0,
                forward_rate: RateLimit::new(IPC_BURST, IPC_PER_SECOND),
                ui_attached: false,
                ui_backlog: VecDeque::new(),
            },
        );
        self.broadcast(Event::AppState {
            session,
            app_id: launch.id.to_string(),
            state: SessionState::Starting,
            reason: None,
        });
        let processes = match self.start(session, &launch).await {
            Ok(processes) => processes,
            Err(failure) => {
                self.set_state(session, SessionState::Stopped, Some(failure.message.clone()));
                self.release_image(&launch.id).await;
                return Err(failure);
            }
        };
        let daemon = Arc::clone(self);
        tokio::spawn(async move {
            daemon.supervise(session, &launch, processes).await;
            daemon.release_image(&launch.id).await;
        });
        Ok(session)
    }

    /// Finds `id` in the store and verifies the installed package.
    async fn launch_from_store(&self, id: AppId) -> Result<Launch, Failure> {
        let package = weft_verify::store::find(&self.config.store_roots, id.as_str())
            .map_err(|error| Failure::new(ErrorCode::NotFound, error.to_string()))?;
        let trusted = self.trusted()?;
        let verify_path = package.clone();
        let verified = tokio::task::spawn_blocking(move || {
            weft_verify::store::verify_installed(&verify_path, &trusted)
        })
        .await
        .map_err(|error| Failure::new(ErrorCode::LaunchFailed, error.to_string()))?
        .map_err(|error| {
            Failure::new(ErrorCode::VerificationFailed, format!("{:#}", anyhow::Error::from(error)))
        })?;
        let manifest = verified.inspection.manifest;
        let digest_of = |path: &str| {
            verified.statement.files.iter().find(|entry| entry.path == path)?.sha256.clone()
        };
        let verified_digests = digest_of(weft_manifest::MANIFEST_FILE)
            .zip(digest_of(&manifest.module.to_string()))
            .ok_or_else(|| {
                Failure::new(
                    ErrorCode::VerificationFailed,
                    "the signed list lacks the manifest or the component",
                )
            })?;
        Ok(Launch {
            id,
            version: manifest.version,
            package,
            capabilities: manifest.capabilities,
            cpu_percent: manifest.limits.cpu_percent,
            verified_digests: Some(verified_digests),
        })
    }

    /// Has the mount helper verify and mount `id`'s signed image (once for
    /// all its sessions) and reads the manifest from the read-only mount.
    async fn launch_from_image(
        &self,
        image_mounts: &ImageMounts,
        id: AppId,
    ) -> Result<Launch, Failure> {
        let package = {
            let mut mounts = self.mounts.lock().await;
            match mounts.get_mut(id.as_str()) {
                Some((path, users)) => {
                    *users += 1;
                    path.clone()
                }
                None => {
                    let path = image_mounts.request(MountAction::Mount, &id).await?;
                    mounts.insert(id.to_string(), (PathBuf::from(&path), 1));
                    PathBuf::from(path)
                }
            }
        };
        let inspect_path = package.clone();
        let inspected =
            tokio::task::spawn_blocking(move || weft_verify::inspect(&inspect_path)).await;
        match inspected {
            Ok(Ok(inspection)) => {
                let manifest = inspection.manifest;
                Ok(Launch {
                    id,
                    version: manifest.version,
                    package,
                    capabilities: manifest.capabilities,
                    cpu_percent: manifest.limits.cpu_percent,
                    verified_digests: None,
                })
            }
            Ok(Err(error)) => {
                self.release_image(&id).await;
                Err(Failure::new(
                    ErrorCode::VerificationFailed,
                    format!("{:#}", anyhow::Error::from(error)),
                ))
            }
            Err(error) => {
                self.release_image(&id).await;
                Err(Failure::new(ErrorCode::LaunchFailed, error.to_string()))
            }
        }
    }

    /// A session of `id` no longer needs its image: the last one unmounts it.
    async fn release_image(&self, id: &AppId) {
        let Some(image_mounts) = &self.config.image_mounts else { return };
        let mut mounts = self.mounts.lock().await;
        let Some((_, users)) = mounts.get_mut(id.as_str()) else { return };
        *users -= 1;
        if *users > 0 {
            return;
        }
        mounts.remove(id.as_str());
        if let Err(error) = image_mounts.request(MountAction::Unmount, id).await {
            tracing::warn!(app = %id, "{error}");
        }
    }

    /// Starts one run of a session: its directory and channel socket, its
    /// cgroup, its file portal and its runtime. What it made is removed again
    /// when a step fails.
    async fn start(self: &Arc<Self>, session: u64, launch: &Launch) -> Result<Processes, Failure> {
        let session_dir = self.config.runtime_dir.join("sessions").join(session.to_string());
        let cgroup = match &self.cgroups {
            Some(cgroups) => {
                Some(cgroups.create(session, launch.cpu_percent).map_err(|error| {
                    Failure::new(
                        ErrorCode::LaunchFailed,
                        format!("session {session}: cgroup: {error}"),
                    )
                })?)
            }
            None => None,
        };
        match self.spawn_run(session, launch, &session_dir, cgroup.as_ref()).await {
            Ok((mut child, portal, listener)) => {
                let stdout = child.stdout.take().expect("stdout is piped");
                let stderr = child.stderr.take().expect("stderr is piped");
                tokio::spawn(Arc::clone(self).pump_output(
                    session,
                    LogStream::Stderr,
                    stderr,
                    None,
                ));
                let portal_pid = portal.as_ref().and_then(tokio::process::Child::id);
                let cgroup_dir = cgroup.as_ref().map(|cgroup| cgroup.dir().to_owned());
                self.with_session(session, |record| {
                    record.pid = child.id();
                    record.helper_pids = portal_pid.into_iter().collect();
                    record.cgroup = cgroup_dir;
                    record.cause = None;
                });
                Ok(Processes { child, portal, stdout, listener, session_dir, cgroup })
            }
            Err(error) => {
                let _ = fs::remove_dir_all(&session_dir);
                if let Some(cgroup) = cgroup {
                    cgroup.remove().await;
                }
                Err(Failure::new(ErrorCode::LaunchFailed, format!("session {session}: {error}")))
            }
        }
    }

    /// Creates the session directory and socket and spawns the portal (if the
    /// app has file access) and the runtime, both in the session's cgroup.
    async fn spawn_run(
        &self,
        session: u64,
        launch: &Launch,
        session_dir: &Path,
        cgroup: Option<&SessionCgroup>,
    ) -> std::io::Result<(tokio::process::Child, Option<tokio::process::Child>, UnixListener)> {
        fs::DirBuilder::new().recursive(true).mode(0o700).create(session_dir)?;
        let socket = session_dir.join("session.sock");
        let listener = UnixListener::bind(&socket)?;
        let mut command = supervised(&self.config.runtime_bin, cgroup)?;
        command
            .arg("--package")
            .arg(&launch.package)
            .arg("--aot-dir")
            .arg(&self.config.aot_dir)
            .arg("--session-socket")
            .arg(&socket)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        // The runtime runs exactly the bytes verified here, or refuses.
        if let Some((manifest, component)) = &launch.verified_digests {
            command.arg("--manifest-sha256").arg(manifest).arg("--component-sha256").arg(component);
        }
        let (portal, dirs) = self
            .start_portal(session, &launch.id, &launch.capabilities, session_dir, cgroup)
            .await?;
        for (flag, dir) in &dirs {
            command.arg(flag).arg(dir.as_raw_fd().to_string());
        }
        let _spawning = self.spawning.lock().expect("spawn lock");
        for (_, dir) in &dirs {
            rustix::io::fcntl_setfd(dir, rustix::io::FdFlags::empty())?;
        }
        let spawned = command.spawn();
        for (_, dir) in &dirs {
            let _ = rustix::io::fcntl_setfd(dir, rustix::io::FdFlags::CLOEXEC);
        }
        let child = spawned.map_err(|error| {
            std::io::Error::new(
                error.kind(),
                format!("cannot start {}: {error}", self.config.runtime_bin.display()),
            )
        })?;
        Ok((child, portal, listener))
    }

    /// Reads one output stream of a run into the session's log. On stdout the
    /// first `READY` line is the readiness signal, sent on `ready`.
    async fn pump_output(
        self: Arc<Self>,
        session: u64,
        stream: LogStream,
        output: impl tokio::io::AsyncRead + Unpin,
        mut ready: Option<oneshot::Sender<()>>,
    ) {
        let mut output = BufReader::new(output);
        let mut line = Vec::new();
        loop {
            match read_bounded_line(&mut output, MAX_LOG_LINE_BYTES, &mut line).await {
                Ok(BoundedLine::End) | Err(_) => return,
                Ok(_) if ready.is_some() && line == weft_protocol::runtime::READY_LINE => {
                    let _ = ready.take().map(|ready| ready.send(()));
                }
                Ok(_) => self.log(session, stream, &line),
            }
        }
    }

    /// Starts the session's file portal over the directories the app's `fs:`
    /// capabilities name (creating its own data directory, 0700, if needed) and
    /// takes the root descriptors the runtime will preopen from it. No portal
    /// without a filesystem capability.
    async fn start_portal(
        &self,
        session: u64,
        id: &AppId,
        capabilities: &[Capability],
        session_dir: &Path,
        cgroup: Option<&SessionCgroup>,
    ) -> std::io::Result<(Option<tokio::process::Child>, Vec<(&'static str, fs::File)>)> {
        let mut roots = Vec::new();
        for capability in capabilities {
            let Capability::Filesystem { dir, access } = capability else { continue };
            let (name, flag, path) = match dir {
                Directory::AppData => {
                    ("app-data", "--app-data-fd", self.config.app_data_root.join(id.as_str()))
                }
                Directory::XdgDocuments => {
                    ("xdg-documents", "--documents-fd", self.config.documents_dir.clone())
                }
            };
            fs::DirBuilder::new().recursive(true).mode(0o700).create(&path)?;
            let mode = match access {
                weft_manifest::Access::Read => "ro",
                weft_manifest::Access::ReadWrite => "rw",
            };
            roots.push((name, flag, format!("{name}={}:{mode}", path.display())));
        }
        if roots.is_empty() {
            return Ok((None, Vec::new()));
        }
        // The daemon binds the socket and hands it over as the portal's stdin,
        // so it can connect at once instead of waiting for the portal to bind.
        let socket = session_dir.join("portal.sock");
        let listener = std::os::unix::net::UnixListener::bind(&socket)?;
        make_private(&socket, 0o600)?;
        let mut command = supervised(&self.config.portal_bin, cgroup)?;
        command
            .arg("--listen-on-stdin")
            .arg("--session")
            .arg(session.to_string())
            .stdin(Stdio::from(std::os::fd::OwnedFd::from(listener)));
        for (_, _, spec) in &roots {
            command.arg("--root").arg(spec);
        }
        let portal = command.spawn()?;
        let stream = std::os::unix::net::UnixStream::connect(&socket)?;
        // The answers come once the portal has started: wait off the event loop.
        let dirs = tokio::task::spawn_blocking(move || {
            let mut dirs = Vec::new();
            for (name, flag, _) in roots {
                let request = PortalRequest::Root { root: name.to_owned() };
                match portal::request(&stream, &request)? {
                    (reply, Some(fd)) if reply.ok => dirs.push((flag, fs::File::from(fd))),
                    (reply, _) => {
                        return Err(std::io::Error::other(format!(
                            "the portal refused {name}: {}",
                            reply.error.unwrap_or_default()
                        )));
                    }
                }
            }
            Ok(dirs)
        })
        .await
        .map_err(std::io::Error::other)??;
        Ok((Some(portal), dirs))
    }

    /// Follows a session from its first run to its end, restarting a failed
    /// app when the restart policy says so.
    async fn supervise(self: &Arc<Self>, session: u64, launch: &Launch, processes: Processes) {
        let policy = &self.config.restart;
        let mut processes = processes;
        loop {
            let ended = self.follow(session, launch, processes).await;
            let (stop_requested, restarts) = self
                .with_session(session, |record| (record.stop_requested, record.restarts))
                .unwrap_or((true, 0));
            if stop_requested
                || !ended.failed
                || !policy.on_failure
                || restarts >= policy.max_restarts
            {
                self.set_state(session, SessionState::Stopped, Some(ended.reason));
                return;
            }
            let restart = restarts + 1;
            self.with_session(session, |record| record.restarts = restart);
            let reason =
                format!("restart {restart} of {} after: {}", policy.max_restarts, ended.reason);
            tracing::warn!(session, app = %launch.id, "{reason}");
            self.set_state(session, SessionState::Starting, Some(reason));
            tokio::time::sleep(policy.backoff_before(restart)).await;
            if self.with_session(session, |record| record.stop_requested).unwrap_or(true) {
                self.set_state(session, SessionState::Stopped, Some("terminated".to_owned()));
                return;
            }
            processes = match self.start(session, launch).await {
                Ok(processes) => processes,
                Err(failure) => {
                    self.set_state(session, SessionState::Stopped, Some(failure.message));
                    return;
                }
            };
        }
    }

    /// Follows one run: READY (or the timeout), the session channel, the app
    /// shell, the runtime's exit; then tears the run down completely.
    async fn follow(
        self: &Arc<Self>,
        session: u64,
        launch: &Launch,
        processes: Processes,
    ) -> RunEnd {
        let id = &launch.id;
        let Processes { mut child, portal, stdout, listener, session_dir, cgroup } = processes;
        let runtime_pid = child.id();
        let (ready_tx, mut ready_rx) = oneshot::channel();
        tokio::spawn(Arc::clone(self).pump_output(
            session,
            LogStream::Stdout,
            stdout,
            Some(ready_tx),
        ));
        let mut relay = tokio::spawn(Arc::clone(self).relay(session, listener));
        // The portal is reaped as soon as it exits; the runtime keeps the
        // directories it already received, so its death does not end the session.
        let portal = portal.map(|mut portal| {
            let pid = portal.id();
            let reaper = tokio::spawn(async move {
                let status = portal.wait().await;
                tracing::info!(session, ?status, "file portal exited");
            });
            (pid, reaper)
        });
        let ready_deadline = tokio::time::sleep(self.config.ready_timeout);
        tokio::pin!(ready_deadline);
        let (mut waiting_ready, mut relay_open) = (true, true);
        let mut channel_deadline = None;
        let mut shell: Option<tokio::process::Child> = None;
        // Whether a shell (and so a compositor session) was started for this run.
        let mut shell_tried = false;
        let status = loop {
            tokio::select! {
                status = child.wait() => break status,
                ready = &mut ready_rx, if waiting_ready => {
                    waiting_ready = false;
                    if ready.is_ok() {
                        self.set_state(session, SessionState::Running, None);
                        self.broadcast(Event::AppReady { session, app_id: id.to_string() });
                        shell = self.start_shell(session, launch, cgroup.as_ref(), runtime_pid).await;
                        shell_tried = self.config.app_shell_bin.is_some();
                    }
                }
                () = &mut ready_deadline, if waiting_ready => {
                    waiting_ready = false;
                    tracing::warn!(session, app = %id, "no READY within {:?}; stopping", self.config.ready_timeout);
                    self.stop_run(session, runtime_pid, "ready-timeout");
                }
                _ = &mut relay, if relay_open => {
                    // A runtime that is exiting closes its channel first; one that
                    // stays without it is broken.
                    relay_open = false;
                    channel_deadline = Some(tokio::time::Instant::now() + self.config.stop_grace);
                }
                () = sleep_until(channel_deadline) => {
                    channel_deadline = None;
                    self.stop_run(session, runtime_pid, "session channel closed");
                }
                status = wait_child(&mut shell) => {
                    shell = None;
                    let reason = format!("app shell {}", describe_exit(status.as_ref().ok()));
                    self.stop_run(session, runtime_pid, &reason);
                }
            }
        };
        relay.abort();
        if let Some(mut shell) = shell {
            kill_group(shell.id(), Signal::KILL);
            let _ = shell.wait().await;
        }
        if shell_tried {
            self.close_compositor_session(session, "session ended".to_owned());
        }
        if let Some((pid, reaper)) = portal {
            if !reaper.is_finished() {
                kill_group(pid, Signal::KILL);
            }
            let _ = reaper.await;
        }
        // The runtime was reaped, so its pid may already be someone else's: what
        // the run left behind goes with the cgroup, not with a signal to that pid.
        let memory_limit_hit = cgroup.as_ref().is_some_and(SessionCgroup::memory_limit_hit);
        if let Some(cgroup) = cgroup {
            cgroup.remove().await;
        }
        let _ = fs::remove_dir_all(&session_dir);
        let cause = self
            .with_session(session, |record| {
                record.pid = None;
                record.helper_pids.clear();
                record.cgroup = None;
                record.channel = None;
                record.cause.take()
            })
            .flatten();
        let status = status.ok();
        let clean_exit = status.is_some_and(|status| status.success());
        // The OOM killer may take the app shell before the runtime; whichever
        // died first, a session over its memory limit ended because of it.
        let reason = match cause {
            _ if memory_limit_hit => "memory limit exceeded (cgroup memory.max)".to_owned(),
            Some(cause) => cause,
            None => describe_runtime_exit(status.as_ref()),
        };
        RunEnd { failed: !clean_exit || reason != "finished", reason }
    }

    /// Starts the app's UI shell, if one is configured, on the session's own
    /// Wayland socket when a compositor is configured. A shell that cannot
    /// start ends the run with the reason.
    async fn start_shell(
        &self,
        session: u64,
        launch: &Launch,
        cgroup: Option<&SessionCgroup>,
        runtime_pid: Option<u32>,
    ) -> Option<tokio::process::Child> {
        let shell_bin = self.config.app_shell_bin.as_ref()?;
        let id = &launch.id;
        let display = match &self.config.compositor_socket {
            Some(socket) => {
                let (socket, app_id) = (socket.clone(), id.to_string());
                let opened = tokio::task::spawn_blocking(move || {
                    crate::compositor::open_session(&socket, session, &app_id)
                })
                .await
                .map_err(anyhow::Error::from)
                .and_then(|opened| opened);
                match opened {
                    Ok(display) => Some(display),
                    Err(error) => {
                        let reason = format!("app shell has no compositor session: {error:#}");
                        self.stop_run(session, runtime_pid, &reason);
                        return None;
                    }
                }
            }
            None => None,
        };
        // The shell's only way to weft-appd: a channel that speaks for this
        // session alone, as its standard input. It never learns the operator
        // socket's path, and is refused there if it finds it.
        let spawned = std::os::unix::net::UnixStream::pair().and_then(|(ours, theirs)| {
            let mut command = supervised(shell_bin, cgroup)?;
            if let Some(display) = &display {
                command.env("WAYLAND_DISPLAY", display);
            }
            // The shell serves the UI from the verified package (the image
            // mount) and relays the page's messages through its channel.
            command.env("WEFT_APP_PACKAGE", &launch.package);
            command.env("WEFT_APPD_CHANNEL", "stdin");
            command.stdin(Stdio::from(std::os::fd::OwnedFd::from(theirs)));
            let shell = command.arg(id.as_str()).arg(session.to_string()).spawn()?;
            Ok((shell, ours))
        });
        match spawned {
            Ok((shell, channel)) => {
                self.with_session(session, |record| record.helper_pids.extend(shell.id()));
                // The server is gone only when the daemon is stopping.
                let _ = self.ui_channels.send((session, channel));
                Some(shell)
            }
            Err(error) => {
                let reason = format!("app shell failed to start: {}: {error}", shell_bin.display());
                self.stop_run(session, runtime_pid, &reason);
                None
            }
        }
    }

    /// Closes the session's windows and Wayland socket in the compositor.
    fn close_compositor_session(&self, session: u64, reason: String) {
        let Some(socket) = self.config.compositor_socket.clone() else { return };
        tokio::task::spawn_blocking(move || {
            if let Err(error) = crate::compositor::close_session(&socket, session, reason) {
                tracing::warn!(session, "cannot close the session in the compositor: {error:#}");
            }
        });
    }

    /// Ends the current run for `cause` (kept as the reason it stopped).
    fn stop_run(&self, session: u64, runtime_pid: Option<u32>, cause: &str) {
        tracing::warn!(session, "stopping: {cause}");
        self.note_cause(session, cause);
        kill_group(runtime_pid, Signal::KILL);
    }

    fn note_cause(&self, session: u64, cause: &str) {
        self.with_session(session, |record| {
            record.cause.get_or_insert_with(|| cause.to_owned());
        });
    }

    /// Carries one session's channel: app messages out as events (within the
    /// rate limits), clipboard requests answered. Returns when the channel ends.
    async fn relay(self: Arc<Self>, session: u64, listener: UnixListener) {
        let Ok((stream, _)) = listener.accept().await else { return };
        drop(listener);
        let (reader, writer) = stream.into_split();
        let writer = Arc::new(tokio::sync::Mutex::new(writer));
        let Some(app_id) = self.with_session(session, |record| {
            record.channel = Some(Arc::clone(&writer));
            // A new run gets a new UI (its app shell starts after READY).
            record.ui_attached = false;
            record.ui_backlog.clear();
            record.app_id.clone()
        }) else {
            return;
        };
        let mut ipc_rate = RateLimit::new(IPC_BURST, IPC_PER_SECOND);
        let mut notify_rate = RateLimit::new(NOTIFY_BURST, NOTIFY_PER_SECOND);
        let mut reader = BufReader::new(reader);
        loop {
            let reply = match read_message_async::<FromApp>(&mut reader).await {
                Ok(FromApp::Ipc { message }) => {
                    if ipc_rate.allow() {
                        let seq = self.with_session(session, |record| {
                            record.ipc_to_ui += 1;
                            let seq = record.ipc_to_ui;
                            if !record.ui_attached {
                                if record.ui_backlog.len() == UI_BACKLOG {
                                    record.ui_backlog.pop_front();
                                }
                                let queued = QueuedMessage { seq, message: message.clone() };
                                record.ui_backlog.push_back(queued);
                            }
                            seq
                        });
                        let seq = seq.unwrap_or_default();
                        self.broadcast(Event::IpcMessage { session, message, seq });
                    } else {
                        tracing::warn!(session, app = %app_id, "IPC message over the rate limit dropped");
                    }
                    None
                }
                Ok(FromApp::Notification { title, body }) => {
                    if notify_rate.allow() {
                        self.broadcast(Event::Notification {
                            session,
                            app_id: app_id.clone(),
                            title,
                            body,
                        });
                    } else {
                        tracing::warn!(session, app = %app_id, "notification over the rate limit dropped");
                    }
                    None
                }
                Ok(FromApp::ClipboardRead { id }) => Some(ToApp::ClipboardText {
                    id,
                    text: self.clipboard.lock().expect("clipboard lock").clone(),
                }),
                Ok(FromApp::ClipboardWrite { id, text }) => {
                    *self.clipboard.lock().expect("clipboard lock") = Some(text);
                    Some(ToApp::Done { id, error: None })
                }
                Ok(FromApp::Error { message }) => {
                    tracing::warn!(session, app = %app_id, "the runtime reports: {message}");
                    None
                }
                Err(SessionFrameError::Closed | SessionFrameError::Io(_)) => return,
                Err(error) => {
                    tracing::warn!(session, app = %app_id, "unreadable message from the runtime: {error}");
                    None
                }
            };
            if let Some(reply) = reply
                && send_line(&writer, &reply).await.is_err()
            {
                return;
            }
        }
    }

    /// Sends a UI message to a running session's app.
    pub async fn forward(&self, session: u64, message: String) -> Result<(), Failure> {
        if message.len() > MAX_IPC_MESSAGE_BYTES {
            return Err(Failure::new(
                ErrorCode::BadRequest,
                format!(
                    "the message is {} bytes; the limit is {MAX_IPC_MESSAGE_BYTES}",
                    message.len()
                ),
            ));
        }
        let channel = self
            .with_session(session, |record| {
                let channel = record.channel.clone().ok_or_else(|| {
                    Failure::new(
                        ErrorCode::InvalidState,
                        format!("session {session} has no open channel"),
                    )
                })?;
                if !record.forward_rate.allow() {
                    return Err(Failure::new(
                        ErrorCode::RateLimited,
                        format!(
                            "session {session}: more than {IPC_BURST} messages at once or \
                             {IPC_PER_SECOND} per second; message dropped"
                        ),
                    ));
                }
                record.ipc_to_app += 1;
                Ok(channel)
            })
            .ok_or_else(|| no_session(session))??;
        send_line(&channel, &ToApp::Ipc { message }).await.map_err(|error| {
            Failure::new(ErrorCode::InvalidState, format!("session {session}: {error}"))
        })
    }

    /// Ends a session: SIGTERM to its process group, SIGKILL after the grace
    /// period. A session waiting to restart simply does not.
    pub fn terminate(self: &Arc<Self>, session: u64) -> Result<(), Failure> {
        let pid = self
            .with_session(session, |record| {
                if record.state == SessionState::Stopped {
                    return Err(Failure::new(
                        ErrorCode::InvalidState,
                        format!("session {session} is already stopped"),
                    ));
                }
                record.stop_requested = true;
                record.cause.get_or_insert_with(|| "terminated".to_owned());
                Ok(record.pid)
            })
            .ok_or_else(|| no_session(session))??;
        self.set_state(session, SessionState::Stopping, None);
        let Some(pid) = pid else { return Ok(()) };
        kill_group(Some(pid), Signal::TERM);
        let daemon = Arc::clone(self);
        tokio::spawn(async move {
            tokio::time::sleep(daemon.config.stop_grace).await;
            if daemon.with_session(session, |record| record.pid == Some(pid)).unwrap_or(false) {
                tracing::warn!(session, "no exit within the grace period; killing");
                kill_group(Some(pid), Signal::KILL);
            }
        });
        Ok(())
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

/// How a run ended.
struct RunEnd {
    /// Why, for the session's reason.
    reason: String,
    /// Anything but a clean exit 0 (terminations are told apart by the caller).
    failed: bool,
}

fn no_session(session: u64) -> Failure {
    Failure::new(ErrorCode::NotFound, format!("no session {session}"))
}

/// Drops the oldest stopped sessions beyond [`MAX_STOPPED_SESSIONS`].
fn forget_old_sessions(sessions: &mut BTreeMap<u64, Session>) {
    let stopped: Vec<u64> = sessions
        .iter()
        .filter(|(_, record)| record.state == SessionState::Stopped)
        .map(|(&session, _)| session)
        .collect();
    for session in stopped.iter().take(stopped.len().saturating_sub(MAX_STOPPED_SESSIONS)) {
        sessions.remove(session);
    }
}

/// Resolves at `deadline`, or never without one.
async fn sleep_until(deadline: Option<tokio::time::Instant>) {
    match deadline {
        Some(deadline) => tokio::time::sleep_until(deadline).await,
        None => std::future::pending().await,
    }
}

/// Waits for `child` to exit, or forever without one.
async fn wait_child(child: &mut Option<tokio::process::Child>) -> std::io::Result<ExitStatus> {
    match child {
        Some(child) => child.wait().await,
        None => std::future::pending().await,
    }
}

async fn send_line(
    writer: &tokio::sync::Mutex<OwnedWriteHalf>,
    message: &ToApp,
) -> std::io::Result<()> {
    let mut line = serde_json::to_vec(message).map_err(std::io::Error::other)?;
    line.push(b'\n');
    writer.lock().await.write_all(&line).await
}

/// Runs a child in its own process group (and the session's cgroup), killed
/// with the daemon.
fn supervised(program: &Path, cgroup: Option<&SessionCgroup>) -> std::io::Result<Command> {
    let mut command = Command::new(program);
    command.stdin(Stdio::null()).process_group(0).kill_on_drop(true);
    // Children die with the daemon: an appd crash leaks no session.
    #[expect(unsafe_code, reason = "pre_exec is the only way to set PR_SET_PDEATHSIG in the child")]
    // SAFETY: the closure runs in the forked child before exec and makes one
    // async-signal-safe system call (prctl); it touches no memory of the
    // parent. The daemon's runtime is single-threaded, so the thread whose exit
    // would fire the signal is the daemon's main thread.
    unsafe {
        command.pre_exec(|| {
            rustix::process::set_parent_process_death_signal(Some(Signal::KILL))
                .map_err(std::io::Error::from)
        });
    }
    if let Some(cgroup) = cgroup {
        cgroup.enter_on_spawn(&mut command)?;
    }
    Ok(command)
}

/// Signals the process group led by `pid`.
fn kill_group(pid: Option<u32>, signal: Signal) {
    if let Some(pid) = pid.and_then(|pid| Pid::from_raw(pid as i32)) {
        let _ = kill_process_group(pid, signal);
    }
}

/// Why a child ended, from its exit status.
fn describe_exit(status: Option<&ExitStatus>) -> String {
    use std::os::unix::process::ExitStatusExt;
    match status {
        None => "unknown".to_owned(),
        Some(status) => match (status.signal(), status.code()) {
            (Some(signal), _) => format!("killed by signal {signal}"),
            (None, Some(0)) => "finished".to_owned(),
            (None, Some(code)) => format!("exited {code}"),
            (None, None) => "unknown".to_owned(),
        },
    }
}

/// Why a runtime ended: [`describe_exit`] with the meaning of its exit codes
/// (docs/protocol.md lists them).
fn describe_runtime_exit(status: Option<&ExitStatus>) -> String {
    match status.and_then(ExitStatus::code).and_then(Exit::from_code) {
        Some(exit) if exit != Exit::Finished => format!("{} ({exit})", describe_exit(status)),
        _ => describe_exit(status),
    }
}

/// Makes `path` (a socket or directory) private to the owner.
pub fn make_private(path: &Path, mode: u32) -> std::io::Result<()> {
    fs::set_permissions(path, fs::Permissions::from_mode(mode))
}
