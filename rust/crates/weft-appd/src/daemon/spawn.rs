//! Starting a run of a session: its directory, channel socket and cgroup,
//! its file portal, its runtime and, once the app is ready, its UI shell in
//! the compositor.

use std::os::fd::{AsFd, BorrowedFd};

use rustix::pipe::{PipeFlags, pipe_with};
use tokio::net::unix::pipe;
use weft_protocol::runtime::{PACKAGE_VERIFIED, SUPERVISOR_PID_ENV};

use super::file_check::FileCheck;
use super::*;

/// Why a run did not start.
enum StartError {
    /// A step of the start failed.
    Io(std::io::Error),
    /// The package's files are not the signed ones.
    Unverified(Failure),
}

impl From<std::io::Error> for StartError {
    fn from(error: std::io::Error) -> Self {
        Self::Io(error)
    }
}

/// A run's processes as spawned: the runtime, the file portal (if any), the
/// session socket's listener and the app's output pipes with their streams.
type SpawnedRun = (tokio::process::Child, Portal, UnixListener, Vec<(LogStream, pipe::Receiver)>);

impl Daemon {
    /// Starts one run of a session: its directory and channel socket, its
    /// cgroup, its file portal and its runtime. What it made is removed again
    /// when a step fails. With a `file_check` (the first run of a store
    /// package) the runtime instantiates the app only once told that the
    /// package's files passed it; its file portal starts after.
    pub(super) async fn start(
        self: &Arc<Self>,
        session: u64,
        launch: &Launch,
        file_check: Option<FileCheck>,
    ) -> Result<Processes, Failure> {
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
        match self.spawn_run(session, launch, &session_dir, cgroup.as_ref(), file_check).await {
            Ok((mut child, portal, listener, app_output)) => {
                let stdout = child.stdout.take().expect("stdout is piped");
                let stderr = child.stderr.take().expect("stderr is piped");
                let mut output_pumps = vec![tokio::spawn(Arc::clone(self).pump_output(
                    session,
                    LogStream::Runtime,
                    stderr,
                    None,
                ))];
                for (stream, pipe) in app_output {
                    output_pumps.push(tokio::spawn(
                        Arc::clone(self).pump_output(session, stream, pipe, None),
                    ));
                }
                let portal_pid = match &portal {
                    Portal::Started(portal) => portal.id(),
                    Portal::AfterReady(_) | Portal::None => None,
                };
                let cgroup_dir = cgroup.as_ref().map(|cgroup| cgroup.dir().to_owned());
                self.with_session(session, |record| {
                    record.pid = child.id();
                    record.helper_pids = portal_pid.into_iter().collect();
                    record.cgroup = cgroup_dir;
                    record.cause = None;
                });
                Ok(Processes { child, portal, stdout, output_pumps, listener, session_dir, cgroup })
            }
            Err(error) => {
                let _ = fs::remove_dir_all(&session_dir);
                if let Some(cgroup) = cgroup {
                    cgroup.remove().await;
                }
                Err(match error {
                    StartError::Io(error) => {
                        Failure::new(ErrorCode::LaunchFailed, format!("session {session}: {error}"))
                    }
                    StartError::Unverified(failure) => failure,
                })
            }
        }
    }

    /// Creates the session directory and socket and spawns the portal (if the
    /// app has file access) and the runtime, both in the session's cgroup.
    /// The app's stdout and stderr come back as pipes of their own, apart from
    /// the runtime's stderr.
    async fn spawn_run(
        &self,
        session: u64,
        launch: &Launch,
        session_dir: &Path,
        cgroup: Option<&SessionCgroup>,
        file_check: Option<FileCheck>,
    ) -> Result<SpawnedRun, StartError> {
        fs::DirBuilder::new().recursive(true).mode(0o700).create(session_dir)?;
        let socket = session_dir.join("session.sock");
        let listener = UnixListener::bind(&socket)?;
        let mut args: Vec<std::ffi::OsString> = vec![
            "--package".into(),
            launch.package.clone().into(),
            "--aot-dir".into(),
            self.config.aot_dir.clone().into(),
            "--session-socket".into(),
            socket.into(),
        ];
        match &launch.digests {
            // The runtime runs exactly the bytes verified here, or refuses.
            Digests::Verified { manifest, component } => args.extend(
                ["--manifest-sha256", manifest, "--component-sha256", component].map(Into::into),
            ),
            Digests::ArtifactKey(key) => args.extend(["--artifact-key", key].map(Into::into)),
        }
        let roots = self.portal_roots(&launch.id, &launch.capabilities)?;
        // A read-only root's descriptor lives on the portal's sealed mount: the
        // portal starts first. With writable roots only, it starts once the app
        // is READY (below).
        let sealed_first = roots.iter().any(|root| !root.writable);
        let (portal, mut dirs) = if sealed_first {
            let (portal, sealed) = self.start_portal(session, &roots, session_dir, cgroup).await?;
            (Some(portal), sealed)
        } else {
            (None, Vec::new())
        };
        dirs.extend(open_writable_roots(&roots)?);
        let (stdout_read, stdout_write) =
            pipe_with(PipeFlags::CLOEXEC).map_err(std::io::Error::from)?;
        let (stderr_read, stderr_write) =
            pipe_with(PipeFlags::CLOEXEC).map_err(std::io::Error::from)?;
        let artifact = self.artifacts.open(&self.config.aot_dir, launch.digests.component()).await;
        let descriptors: Vec<(&'static str, BorrowedFd<'_>)> = dirs
            .iter()
            .map(|(flag, dir)| (*flag, dir.as_fd()))
            .chain([
                ("--app-stdout-fd", stdout_write.as_fd()),
                ("--app-stderr-fd", stderr_write.as_fd()),
            ])
            .chain(artifact.as_ref().map(|artifact| ("--artifact-fd", artifact.as_fd())))
            .chain(file_check.as_ref().map(|check| ("--verified-fd", check.runtime_end())))
            .collect();
        // A spare runs under its system-call filter and cannot run the
        // installer: a component without a usable stored artifact starts cold.
        let spare = if artifact.is_some() { self.take_spare().await } else { None };
        let child = match spare.map(|spare| spare.hand_over(&args, &descriptors, cgroup)) {
            Some(Ok(child)) => {
                tracing::debug!(session, "handed to the spare runtime");
                child
            }
            Some(Err(error)) => {
                tracing::warn!(
                    session,
                    "the spare runtime could not take the app ({error}): starting one"
                );
                self.spawn_runtime(&args, &descriptors, cgroup)?
            }
            None => self.spawn_runtime(&args, &descriptors, cgroup)?,
        };
        // Only the runtime holds the write ends now: its exit ends the pipes.
        drop(descriptors);
        if let Some(file_check) = file_check {
            // A failed check drops the runtime, which is killed, having run
            // none of the app.
            file_check.outcome().await.map_err(StartError::Unverified)?;
        }
        // With writable roots only, the portal starts once the app is READY
        // (`follow`): nothing needs it before, and its start (a fork, then the
        // wait for its exec) does not hold up a READY that comes meanwhile.
        let portal = match portal {
            Some(portal) => Portal::Started(portal),
            None if !roots.is_empty() => Portal::AfterReady(roots),
            None => Portal::None,
        };
        drop((stdout_write, stderr_write));
        let app_output = vec![
            (LogStream::Stdout, pipe::Receiver::from_owned_fd(stdout_read)?),
            (LogStream::Stderr, pipe::Receiver::from_owned_fd(stderr_read)?),
        ];
        Ok((child, portal, listener, app_output))
    }

    /// Starts a runtime for one app with `args`, the `descriptors` inherited
    /// under the numbers their options name: a cold start. In a `cgroup`, the
    /// runtime joins it once spawned and instantiates nothing before: it waits
    /// on `--verified-fd` (a pipe of its own when no file check gives one).
    fn spawn_runtime(
        &self,
        args: &[std::ffi::OsString],
        descriptors: &[(&'static str, BorrowedFd<'_>)],
        cgroup: Option<&SessionCgroup>,
    ) -> std::io::Result<tokio::process::Child> {
        let gated = descriptors.iter().any(|(option, _)| *option == "--verified-fd");
        let gate = match cgroup {
            Some(_) if !gated => Some(pipe_with(PipeFlags::CLOEXEC)?),
            _ => None,
        };
        let descriptors: Vec<(&'static str, BorrowedFd<'_>)> = descriptors
            .iter()
            .copied()
            .chain(gate.as_ref().map(|(runtime_end, _)| ("--verified-fd", runtime_end.as_fd())))
            .collect();
        let mut command = runtime_command(&self.config.runtime_bin);
        command.args(args).stdout(Stdio::piped()).stderr(Stdio::piped());
        for (option, fd) in &descriptors {
            command.arg(option).arg(fd.as_raw_fd().to_string());
        }
        let spawning = self.spawning.lock().expect("spawn lock");
        for (_, fd) in &descriptors {
            rustix::io::fcntl_setfd(fd, rustix::io::FdFlags::empty())?;
        }
        let spawned = command.spawn();
        for (_, fd) in &descriptors {
            let _ = rustix::io::fcntl_setfd(fd, rustix::io::FdFlags::CLOEXEC);
        }
        drop(spawning);
        let child = spawned.map_err(|error| {
            std::io::Error::new(
                error.kind(),
                format!("cannot start {}: {error}", self.config.runtime_bin.display()),
            )
        })?;
        if let Some(cgroup) = cgroup {
            // On an error the child is dropped (killed), having run none of
            // the app: it waits on its go-ahead.
            let pid = child.id().ok_or_else(|| std::io::Error::other("the runtime has exited"))?;
            cgroup.adopt(pid)?;
        }
        if let Some((_, supervisor_end)) = gate {
            // One byte into an empty pipe: never blocks.
            rustix::io::write(&supervisor_end, &[PACKAGE_VERIFIED])?;
        }
        Ok(child)
    }

    /// The directories the app's `fs:` capabilities name, each created (0700)
    /// if needed: the portal's roots.
    fn portal_roots(
        &self,
        id: &AppId,
        capabilities: &[Capability],
    ) -> std::io::Result<Vec<PortalRoot>> {
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
            let writable = *access == weft_manifest::Access::ReadWrite;
            roots.push(PortalRoot { name, flag, path, writable });
        }
        Ok(roots)
    }

    /// Starts the session's file portal over `roots` and takes from it the
    /// descriptors of the read-only ones (on its sealed read-only mount),
    /// once it has started.
    pub(super) async fn start_portal(
        &self,
        session: u64,
        roots: &[PortalRoot],
        session_dir: &Path,
        cgroup: Option<&SessionCgroup>,
    ) -> std::io::Result<(tokio::process::Child, Vec<(&'static str, fs::File)>)> {
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
        for root in roots {
            let mode = if root.writable { "rw" } else { "ro" };
            command.arg("--root").arg(format!("{}={}:{mode}", root.name, root.path.display()));
        }
        let portal = command.spawn()?;
        let sealed: Vec<_> =
            roots.iter().filter(|root| !root.writable).map(|root| (root.name, root.flag)).collect();
        if sealed.is_empty() {
            return Ok((portal, Vec::new()));
        }
        let stream = std::os::unix::net::UnixStream::connect(&socket)?;
        // The answers come once the portal has started: wait off the event loop.
        let dirs = tokio::task::spawn_blocking(move || {
            let mut dirs = Vec::new();
            for (name, flag) in sealed {
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
        Ok((portal, dirs))
    }

    /// Starts the app's UI shell, if one is configured, on the session's own
    /// Wayland socket when a compositor is configured. A shell that cannot
    /// start ends the run with the reason.
    pub(super) async fn start_shell(
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
    pub(super) fn close_compositor_session(&self, session: u64, reason: String) {
        let Some(socket) = self.config.compositor_socket.clone() else { return };
        tokio::task::spawn_blocking(move || {
            if let Err(error) = crate::compositor::close_session(&socket, session, reason) {
                tracing::warn!(session, "cannot close the session in the compositor: {error:#}");
            }
        });
    }
}

/// Runs a runtime in its own process group, killed with the daemon, spawned
/// without a fork of the daemon (no `pre_exec`: `posix_spawn`, which does not
/// copy the daemon's page tables): it sets its parent-death signal itself
/// from [`SUPERVISOR_PID_ENV`]. The caller moves it into its session's cgroup
/// before it runs anything of the app ([`SessionCgroup::adopt`]).
pub(super) fn runtime_command(program: &Path) -> Command {
    let mut command = grouped(program);
    command.env(SUPERVISOR_PID_ENV, std::process::id().to_string());
    command
}

/// `program` with no standard input, in a process group of its own, killed
/// when its handle is dropped.
fn grouped(program: &Path) -> Command {
    let mut command = Command::new(program);
    command.stdin(Stdio::null()).process_group(0).kill_on_drop(true);
    command
}

/// Runs a child in its own process group (and the session's cgroup), killed
/// with the daemon.
pub(super) fn supervised(
    program: &Path,
    cgroup: Option<&SessionCgroup>,
) -> std::io::Result<Command> {
    let mut command = grouped(program);
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

/// A run's file portal.
pub(super) enum Portal {
    /// Started with the run (it has a read-only root, whose descriptor the
    /// runtime takes from it).
    Started(tokio::process::Child),
    /// To start once the app is READY, over these (writable) roots.
    AfterReady(Vec<PortalRoot>),
    /// The app has no filesystem capability.
    None,
}

/// One directory an app's `fs:` capability names, as the portal serves it.
pub(super) struct PortalRoot {
    /// The portal's name for it (`app-data`, `xdg-documents`).
    name: &'static str,
    /// The runtime option its descriptor is passed with.
    flag: &'static str,
    /// The directory.
    path: PathBuf,
    /// Whether the capability grants writing.
    writable: bool,
}

/// The writable roots' descriptors: a writable root is the plain directory
/// the portal would open too, opened here so that the launch does not wait
/// for the portal to start.
fn open_writable_roots(roots: &[PortalRoot]) -> std::io::Result<Vec<(&'static str, fs::File)>> {
    use rustix::fs::{Mode, OFlags, open};
    roots
        .iter()
        .filter(|root| root.writable)
        .map(|root| {
            let dir = open(
                &root.path,
                OFlags::DIRECTORY | OFlags::RDONLY | OFlags::CLOEXEC,
                Mode::empty(),
            )?;
            Ok((root.flag, fs::File::from(dir)))
        })
        .collect()
}
