//! Sessions: launching a verified app in `weft-runtime`, waiting for READY,
//! supervising the process, relaying its session channel, terminating it.

use std::collections::BTreeMap;
use std::fs;
use std::os::fd::AsRawFd;
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::PathBuf;
use std::process::{ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use rustix::process::{Pid, Signal, kill_process_group};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::UnixListener;
use tokio::net::unix::OwnedWriteHalf;
use tokio::process::Command;
use tokio::sync::broadcast;
use weft_manifest::{AppId, Capability, Directory};
use weft_pack::keys::TrustedKeys;
use weft_protocol::appd::{ErrorCode, InstalledApp, Reply, SessionInfo, SessionState};
use weft_protocol::portal::{self, PortalRequest};
use weft_protocol::session::{FromApp, MAX_IPC_MESSAGE_BYTES, ToApp};

use crate::config::Config;

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

impl Failure {
    fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self { code, message: message.into() }
    }
}

/// What a started session consists of, handed to its supervising task.
struct SessionProcesses {
    child: tokio::process::Child,
    portal: Option<tokio::process::Child>,
    stdout: tokio::process::ChildStdout,
    listener: UnixListener,
    session_dir: PathBuf,
}

/// One session's record.
struct Session {
    app_id: String,
    state: SessionState,
    reason: Option<String>,
    pid: Option<u32>,
    started: Instant,
    channel: Option<Arc<tokio::sync::Mutex<OwnedWriteHalf>>>,
}

/// The supervisor's state, shared by every connection and session task.
pub struct Daemon {
    config: Config,
    sessions: Mutex<BTreeMap<u64, Session>>,
    next_session: Mutex<u64>,
    events: broadcast::Sender<Reply>,
    clipboard: Mutex<Option<String>>,
    /// Held while a child is spawned with inherited directory descriptors, so no
    /// other child inherits them.
    spawning: Mutex<()>,
}

impl Daemon {
    /// A daemon with no sessions.
    pub fn new(config: Config) -> Arc<Self> {
        let (events, _) = broadcast::channel(EVENT_BACKLOG);
        Arc::new(Self {
            config,
            sessions: Mutex::new(BTreeMap::new()),
            next_session: Mutex::new(1),
            events,
            clipboard: Mutex::new(None),
            spawning: Mutex::new(()),
        })
    }

    /// The configuration.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// A receiver of every broadcast event from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<Reply> {
        self.events.subscribe()
    }

    /// Broadcasts an event to every connected client.
    pub fn broadcast(&self, event: Reply) {
        // No subscribers is not an error.
        let _ = self.events.send(event);
    }

    fn set_state(&self, session: u64, state: SessionState, reason: Option<String>) {
        let app_id = {
            let mut sessions = self.sessions.lock().expect("sessions lock");
            let Some(record) = sessions.get_mut(&session) else { return };
            if record.state == SessionState::Stopped {
                return;
            }
            record.state = state;
            if reason.is_some() {
                record.reason.clone_from(&reason);
            }
            if state == SessionState::Stopped {
                record.pid = None;
                record.channel = None;
            }
            record.app_id.clone()
        };
        tracing::info!(session, app = %app_id, ?state, reason = reason.as_deref().unwrap_or(""), "session state");
        self.broadcast(Reply::AppState { session, app_id, state, reason });
    }

    /// The sessions, oldest first.
    pub fn running(&self) -> Vec<SessionInfo> {
        let sessions = self.sessions.lock().expect("sessions lock");
        sessions
            .iter()
            .map(|(&session, record)| SessionInfo {
                session,
                app_id: record.app_id.clone(),
                state: record.state,
                reason: record.reason.clone(),
                pid: record.pid,
                uptime_ms: record.started.elapsed().as_millis() as u64,
            })
            .collect()
    }

    /// One session's state.
    pub fn state_of(&self, session: u64) -> Result<Reply, Failure> {
        let sessions = self.sessions.lock().expect("sessions lock");
        let record = sessions
            .get(&session)
            .ok_or_else(|| Failure::new(ErrorCode::NotFound, format!("no session {session}")))?;
        Ok(Reply::AppState {
            session,
            app_id: record.app_id.clone(),
            state: record.state,
            reason: record.reason.clone(),
        })
    }

    /// Every app in every store root, verified.
    pub fn installed(&self) -> Result<Vec<InstalledApp>, Failure> {
        let trusted = self.trusted()?;
        Ok(weft_pack::store::list(&self.config.store_roots, &trusted)
            .into_iter()
            .map(|listed| {
                let dir_name = listed
                    .path
                    .file_name()
                    .map(|name| name.to_string_lossy().into_owned())
                    .unwrap_or_default();
                match listed.verified {
                    Ok(verified) => InstalledApp {
                        app_id: verified.id.to_string(),
                        version: Some(verified.statement.version),
                        name: Some(verified.inspection.manifest.name),
                        error: None,
                    },
                    Err(error) => InstalledApp {
                        app_id: dir_name,
                        version: None,
                        name: None,
                        error: Some(format!("{:#}", anyhow::Error::from(error))),
                    },
                }
            })
            .collect())
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
        let package = weft_pack::store::find(&self.config.store_roots, id.as_str())
            .map_err(|error| Failure::new(ErrorCode::NotFound, error.to_string()))?;
        let trusted = self.trusted()?;
        let verify_path = package.clone();
        let verified = tokio::task::spawn_blocking(move || {
            weft_pack::store::verify_installed(&verify_path, &trusted)
        })
        .await
        .map_err(|error| Failure::new(ErrorCode::LaunchFailed, error.to_string()))?
        .map_err(|error| {
            Failure::new(ErrorCode::VerificationFailed, format!("{:#}", anyhow::Error::from(error)))
        })?;
        let manifest = verified.inspection.manifest;

        let session = {
            let mut next = self.next_session.lock().expect("session counter lock");
            let session = *next;
            *next += 1;
            session
        };
        let launch_failed = |error: std::io::Error| {
            Failure::new(ErrorCode::LaunchFailed, format!("session {session}: {error}"))
        };
        let session_dir = self.config.runtime_dir.join("sessions").join(session.to_string());
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&session_dir)
            .map_err(launch_failed)?;
        let socket = session_dir.join("session.sock");
        let listener = UnixListener::bind(&socket).map_err(launch_failed)?;

        let mut command = supervised(&self.config.runtime_bin);
        command
            .arg("--package")
            .arg(&package)
            .arg("--aot-dir")
            .arg(&self.config.aot_dir)
            .arg("--session-socket")
            .arg(&socket)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let (portal, dirs) = self
            .start_portal(session, &id, &manifest.capabilities, &session_dir)
            .await
            .map_err(launch_failed)?;
        for (flag, dir) in &dirs {
            command.arg(flag).arg(dir.as_raw_fd().to_string());
        }
        let mut child = {
            let _spawning = self.spawning.lock().expect("spawn lock");
            for (_, dir) in &dirs {
                rustix::io::fcntl_setfd(dir, rustix::io::FdFlags::empty())
                    .map_err(|e| launch_failed(e.into()))?;
            }
            let spawned = command.spawn();
            for (_, dir) in &dirs {
                let _ = rustix::io::fcntl_setfd(dir, rustix::io::FdFlags::CLOEXEC);
            }
            spawned.map_err(|error| {
                Failure::new(
                    ErrorCode::LaunchFailed,
                    format!("cannot start {}: {error}", self.config.runtime_bin.display()),
                )
            })?
        };
        drop(dirs);
        let pid = child.id();
        self.sessions.lock().expect("sessions lock").insert(
            session,
            Session {
                app_id: id.to_string(),
                state: SessionState::Starting,
                reason: None,
                pid,
                started: Instant::now(),
                channel: None,
            },
        );
        self.broadcast(Reply::AppState {
            session,
            app_id: id.to_string(),
            state: SessionState::Starting,
            reason: None,
        });

        let stdout = child.stdout.take().expect("stdout is piped");
        let stderr = child.stderr.take().expect("stderr is piped");
        let daemon = Arc::clone(self);
        let app = id.to_string();
        tokio::spawn(async move {
            let processes = SessionProcesses { child, portal, stdout, listener, session_dir };
            daemon.supervise(session, app, processes).await;
        });
        let app = id.to_string();
        tokio::spawn(async move {
            let mut lines = BufReader::new(stderr).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                tracing::info!(session, app = %app, "{line}");
            }
        });
        Ok(session)
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
        session_dir: &std::path::Path,
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
        let socket = session_dir.join("portal.sock");
        let mut command = supervised(&self.config.portal_bin);
        command.arg("--socket").arg(&socket).arg("--session").arg(session.to_string());
        for (_, _, spec) in &roots {
            command.arg("--root").arg(spec);
        }
        let portal = command.spawn()?;
        let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
        let stream = loop {
            match tokio::net::UnixStream::connect(&socket).await {
                Ok(stream) => break stream.into_std()?,
                Err(error) if tokio::time::Instant::now() > deadline => return Err(error),
                Err(_) => tokio::time::sleep(std::time::Duration::from_millis(5)).await,
            }
        };
        stream.set_nonblocking(false)?;
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
        Ok((Some(portal), dirs))
    }

    /// Follows one session from start to end.
    async fn supervise(self: Arc<Self>, session: u64, app_id: String, processes: SessionProcesses) {
        let SessionProcesses { mut child, portal, stdout, listener, session_dir } = processes;
        let daemon = Arc::clone(&self);
        let channel_task = tokio::spawn(async move { daemon.relay(session, listener).await });
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
        let mut stdout = BufReader::new(stdout).lines();
        let ready = tokio::time::timeout(self.config.ready_timeout, async {
            loop {
                match stdout.next_line().await {
                    Ok(Some(line)) if line == "READY" => return true,
                    Ok(Some(_)) => {}
                    _ => return false,
                }
            }
        });
        let status = tokio::select! {
            ready = ready => {
                match ready {
                    Ok(true) => {
                        self.set_state(session, SessionState::Running, None);
                        self.broadcast(Reply::AppReady { session, app_id: app_id.clone() });
                    }
                    Ok(false) => {}
                    Err(_) => {
                        tracing::warn!(session, app = %app_id, "no READY within {:?}; stopping", self.config.ready_timeout);
                        self.note_reason(session, "ready-timeout");
                        kill_group(child.id(), Signal::KILL);
                    }
                }
                child.wait().await
            }
            status = child.wait() => status,
        };
        // Anything the runtime left in its group goes with it.
        if let Ok(status) = &status {
            tracing::debug!(session, ?status, "runtime exited");
        }
        channel_task.abort();
        if let Some((pid, reaper)) = portal {
            if !reaper.is_finished() {
                kill_group(pid, Signal::KILL);
            }
            let _ = reaper.await;
        }
        let reason = self.reason_of(session).unwrap_or_else(|| describe_exit(status.as_ref().ok()));
        self.set_state(session, SessionState::Stopped, Some(reason));
        let _ = fs::remove_dir_all(&session_dir);
    }

    fn note_reason(&self, session: u64, reason: &str) {
        if let Some(record) = self.sessions.lock().expect("sessions lock").get_mut(&session) {
            record.reason.get_or_insert_with(|| reason.to_owned());
        }
    }

    fn reason_of(&self, session: u64) -> Option<String> {
        self.sessions
            .lock()
            .expect("sessions lock")
            .get(&session)
            .and_then(|record| record.reason.clone())
    }

    /// Carries one session's channel: app messages out as events, clipboard
    /// requests answered, `IPC_FORWARD` written in.
    async fn relay(self: Arc<Self>, session: u64, listener: UnixListener) {
        let Ok((stream, _)) = listener.accept().await else { return };
        let (reader, writer) = stream.into_split();
        let writer = Arc::new(tokio::sync::Mutex::new(writer));
        let app_id = match self.sessions.lock().expect("sessions lock").get_mut(&session) {
            Some(record) => {
                record.channel = Some(Arc::clone(&writer));
                record.app_id.clone()
            }
            None => return,
        };
        let mut lines = BufReader::new(reader).lines();
        while let Ok(Some(line)) = lines.next_line().await {
            let reply = match serde_json::from_str::<FromApp>(&line) {
                Ok(FromApp::Ipc { message }) => {
                    self.broadcast(Reply::IpcMessage { session, message });
                    None
                }
                Ok(FromApp::Notification { title, body }) => {
                    self.broadcast(Reply::Notification {
                        session,
                        app_id: app_id.clone(),
                        title,
                        body,
                    });
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
                Err(error) => {
                    tracing::warn!(session, app = %app_id, "unreadable message from the runtime: {error}");
                    None
                }
            };
            if let Some(reply) = reply
                && send_line(&writer, &reply).await.is_err()
            {
                break;
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
        let channel = {
            let sessions = self.sessions.lock().expect("sessions lock");
            let record = sessions.get(&session).ok_or_else(|| {
                Failure::new(ErrorCode::NotFound, format!("no session {session}"))
            })?;
            record.channel.clone().ok_or_else(|| {
                Failure::new(
                    ErrorCode::InvalidState,
                    format!("session {session} has no open channel"),
                )
            })?
        };
        send_line(&channel, &ToApp::Ipc { message }).await.map_err(|error| {
            Failure::new(ErrorCode::InvalidState, format!("session {session}: {error}"))
        })
    }

    /// Ends a session: SIGTERM to its process group, SIGKILL after the grace period.
    pub fn terminate(self: &Arc<Self>, session: u64) -> Result<(), Failure> {
        let pid = {
            let sessions = self.sessions.lock().expect("sessions lock");
            let record = sessions.get(&session).ok_or_else(|| {
                Failure::new(ErrorCode::NotFound, format!("no session {session}"))
            })?;
            record.pid.ok_or_else(|| {
                Failure::new(
                    ErrorCode::InvalidState,
                    format!("session {session} is already stopped"),
                )
            })?
        };
        self.note_reason(session, "terminated");
        self.set_state(session, SessionState::Stopping, None);
        kill_group(Some(pid), Signal::TERM);
        let daemon = Arc::clone(self);
        tokio::spawn(async move {
            tokio::time::sleep(daemon.config.stop_grace).await;
            let still_running = daemon
                .sessions
                .lock()
                .expect("sessions lock")
                .get(&session)
                .is_some_and(|record| record.pid == Some(pid));
            if still_running {
                tracing::warn!(session, "no exit within the grace period; killing");
                kill_group(Some(pid), Signal::KILL);
            }
        });
        Ok(())
    }

    /// Kills every session's process group (daemon shutdown).
    pub fn kill_all(&self) {
        for record in self.sessions.lock().expect("sessions lock").values() {
            kill_group(record.pid, Signal::KILL);
        }
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

/// Runs a child in its own process group, killed with the daemon.
fn supervised(program: &std::path::Path) -> Command {
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
    command
}

/// Signals the process group led by `pid`.
fn kill_group(pid: Option<u32>, signal: Signal) {
    if let Some(pid) = pid.and_then(|pid| Pid::from_raw(pid as i32)) {
        let _ = kill_process_group(pid, signal);
    }
}

/// Why a runtime ended, from its exit status (docs/protocol.md lists the codes).
fn describe_exit(status: Option<&ExitStatus>) -> String {
    use std::os::unix::process::ExitStatusExt;
    let Some(status) = status else { return "unknown".to_owned() };
    if let Some(signal) = status.signal() {
        return format!("killed by signal {signal}");
    }
    match status.code() {
        Some(0) => "finished".to_owned(),
        Some(3) => "exited 3 (launch refused)".to_owned(),
        Some(4) => "exited 4 (app trapped)".to_owned(),
        Some(5) => "exited 5 (memory limit)".to_owned(),
        Some(6) => "exited 6 (CPU budget)".to_owned(),
        Some(7) => "exited 7 (stack overflow)".to_owned(),
        Some(code) => format!("exited {code}"),
        None => "unknown".to_owned(),
    }
}

/// Makes `path` (a socket or directory) private to the owner.
pub fn make_private(path: &std::path::Path, mode: u32) -> std::io::Result<()> {
    fs::set_permissions(path, fs::Permissions::from_mode(mode))
}
