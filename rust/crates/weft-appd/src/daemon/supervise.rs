//! Following a run to its end (READY or its timeout, the channel, the app
//! shell, the runtime's exit), carrying out what the session's
//! [`Lifecycle`](crate::lifecycle::Lifecycle) decides, and terminations.

use std::time::Duration;

use super::file_check::FileCheck;
use super::spawn::{Portal, PortalRoot};
use super::*;

/// How long a run's end waits for the rest of its output.
const OUTPUT_DRAIN: Duration = Duration::from_secs(1);

/// How the runtime words a refusal in its log.
const REFUSAL: &str = "launch refused: ";

impl Daemon {
    /// What follows `words` in the last line of the runtime's own log (never
    /// the app's output, which has streams of its own) that has them.
    fn runtime_said(&self, session: u64, words: &str) -> Option<String> {
        self.with_session(session, |record| {
            record.logs.iter().rev().filter(|line| line.stream == LogStream::Runtime).find_map(
                |line| line.text.split_once(words).map(|(_, rest)| rest.trim_end().to_owned()),
            )
        })
        .flatten()
    }

    /// Follows a session from its first run to its end, restarting a failed
    /// app when the restart policy says so.
    /// Follows a session from its first run to its end, carrying out what
    /// its [`Lifecycle`] decides at the end of each run (stop, or wait and
    /// restart). Returns when the session has stopped; the caller releases
    /// its image.
    pub(super) async fn supervise(
        self: &Arc<Self>,
        session: u64,
        launch: &Launch,
        processes: Processes,
    ) {
        let mut processes = processes;
        loop {
            let ended = self.follow(session, launch, processes).await;
            let input = Input::RunEnded { failed: ended.failed, reason: ended.reason };
            let Some(backoff) =
                self.effects_of(session, input).into_iter().find_map(|effect| match effect {
                    Effect::Backoff(backoff) => Some(backoff),
                    _ => None,
                })
            else {
                return;
            };
            tokio::time::sleep(backoff).await;
            if !self.effects_of(session, Input::BackoffElapsed).contains(&Effect::StartRun) {
                return;
            }
            processes = match self.start_run(session, launch, None).await {
                Ok(processes) => processes,
                Err(_) => return,
            };
        }
    }

    /// Starts a run the lifecycle asked for and tells it how that went; a run
    /// whose session was terminated while it started is stopped at once.
    pub(super) async fn start_run(
        self: &Arc<Self>,
        session: u64,
        launch: &Launch,
        file_check: Option<FileCheck>,
    ) -> Result<Processes, Failure> {
        match self.start(session, launch, file_check).await {
            Ok(processes) => {
                if self.effects_of(session, Input::RunStarted).contains(&Effect::StopRun) {
                    self.stop_gracefully(session);
                }
                Ok(processes)
            }
            Err(failure) => {
                self.effects_of(session, Input::StartFailed(failure.message.clone()));
                Err(failure)
            }
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
        let Processes { mut child, portal, stdout, output_pumps, listener, session_dir, cgroup } =
            processes;
        let runtime_pid = child.id();
        let (ready_tx, mut ready_rx) = oneshot::channel();
        tokio::spawn(Arc::clone(self).pump_output(
            session,
            LogStream::Stdout,
            stdout,
            Some(ready_tx),
        ));
        let mut relay = tokio::spawn(Arc::clone(self).relay(session, listener));
        let (mut portal, mut portal_after_ready) = match portal {
            Portal::Started(portal) => (Some(reap_portal(session, portal)), None),
            Portal::AfterReady(roots) => (None, Some(roots)),
            Portal::None => (None, None),
        };
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
                    if ready.is_ok() && self.effects_of(session, Input::Ready).contains(&Effect::StartShell) {
                        self.broadcast(Event::AppReady { session, app_id: id.to_string() });
                        // The clients hear it before the shell and the portal
                        // start: their spawns fork this (single) thread for
                        // milliseconds. The event's tasks are queued already,
                        // so they write it in this one yield.
                        tokio::task::yield_now().await;
                        shell = self.start_shell(session, launch, cgroup.as_ref(), runtime_pid).await;
                        shell_tried = self.config.app_shell_bin.is_some();
                        if let Some(roots) = portal_after_ready.take() {
                            let (dir, cgroup) = (&session_dir, cgroup.as_ref());
                            portal = self
                                .start_portal_after_ready(session, &roots, dir, cgroup, runtime_pid)
                                .await;
                        }
                    }
                    // The next spare starts once this app is up, not while it
                    // starts (both would compete for the same cores).
                    self.refill_spare();
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
        // A run that ended before READY still leaves a spare behind it.
        self.refill_spare();
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
        // The runtime's last words (a refusal says what was refused, an app's
        // failure its exit status) are in the log once its output is read to
        // the end.
        let _ = tokio::time::timeout(OUTPUT_DRAIN, async {
            for pump in output_pumps {
                let _ = pump.await;
            }
        })
        .await;
        // The OOM killer may take the app shell before the runtime; whichever
        // died first, a session over its memory limit ended because of it.
        let reason = match cause {
            _ if memory_limit_hit => "memory limit exceeded (cgroup memory.max)".to_owned(),
            Some(cause) => cause,
            None => {
                let said = match exit_of(status.as_ref()) {
                    Some(Exit::Refused) => Some(REFUSAL),
                    Some(Exit::AppFailed) => Some(APP_EXIT_STATUS),
                    _ => None,
                }
                .and_then(|words| Some((words, self.runtime_said(session, words)?)));
                match said {
                    Some((words, rest)) => {
                        format!("{} ({words}{rest})", describe_exit(status.as_ref()))
                    }
                    None => describe_runtime_exit(status.as_ref()),
                }
            }
        };
        RunEnd { failed: !clean_exit || reason != "finished", reason }
    }

    /// Starts the file portal over a READY app's writable `roots`; one that
    /// cannot start stops the run, as it would have stopped its launch.
    async fn start_portal_after_ready(
        &self,
        session: u64,
        roots: &[PortalRoot],
        session_dir: &Path,
        cgroup: Option<&SessionCgroup>,
        runtime_pid: Option<u32>,
    ) -> Option<(Option<u32>, tokio::task::JoinHandle<()>)> {
        match self.start_portal(session, roots, session_dir, cgroup).await {
            Ok((portal, _)) => {
                let pid = portal.id();
                self.with_session(session, |record| record.helper_pids.extend(pid));
                Some(reap_portal(session, portal))
            }
            Err(error) => {
                self.stop_run(session, runtime_pid, &format!("file portal: {error}"));
                None
            }
        }
    }

    /// Ends the current run for `cause` (kept as the reason it stopped).
    pub(super) fn stop_run(&self, session: u64, runtime_pid: Option<u32>, cause: &str) {
        tracing::warn!(session, "stopping: {cause}");
        self.note_cause(session, cause);
        kill_group(runtime_pid, Signal::KILL);
    }

    fn note_cause(&self, session: u64, cause: &str) {
        self.with_session(session, |record| {
            record.cause.get_or_insert_with(|| cause.to_owned());
        });
    }

    /// Ends a session: SIGTERM to its process group, SIGKILL after the grace
    /// period. A session waiting to restart simply does not.
    pub fn terminate(self: &Arc<Self>, session: u64) -> Result<(), Failure> {
        let effects = self.step(session, Input::Terminate).ok_or_else(|| no_session(session))?;
        let effects = effects.map_err(|Refused::AlreadyStopped| {
            Failure::new(ErrorCode::InvalidState, format!("session {session} is already stopped"))
        })?;
        if effects.contains(&Effect::StopRun) {
            self.stop_gracefully(session);
        }
        Ok(())
    }

    /// Ends the session's current run because it was terminated: SIGTERM to
    /// its process group, SIGKILL after the grace period.
    fn stop_gracefully(self: &Arc<Self>, session: u64) {
        let pid = self
            .with_session(session, |record| {
                record.cause.get_or_insert_with(|| "terminated".to_owned());
                record.pid
            })
            .flatten();
        let Some(pid) = pid else { return };
        kill_group(Some(pid), Signal::TERM);
        let daemon = Arc::clone(self);
        tokio::spawn(async move {
            tokio::time::sleep(daemon.config.stop_grace).await;
            if daemon.with_session(session, |record| record.pid == Some(pid)).unwrap_or(false) {
                tracing::warn!(session, "no exit within the grace period; killing");
                kill_group(Some(pid), Signal::KILL);
            }
        });
    }
}

/// How a run ended.
struct RunEnd {
    /// Why, for the session's reason.
    reason: String,
    /// Anything but a clean exit 0 (terminations are told apart by the caller).
    failed: bool,
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

/// Signals the process group led by `pid`.
pub(super) fn kill_group(pid: Option<u32>, signal: Signal) {
    if let Some(pid) = pid.and_then(|pid| Pid::from_raw(pid as i32)) {
        let _ = kill_process_group(pid, signal);
    }
}

/// Reaps the session's file portal as soon as it exits; the runtime keeps the
/// directories it already received, so its death does not end the session.
fn reap_portal(
    session: u64,
    mut portal: tokio::process::Child,
) -> (Option<u32>, tokio::task::JoinHandle<()>) {
    let pid = portal.id();
    let reaper = tokio::spawn(async move {
        let status = portal.wait().await;
        tracing::info!(session, ?status, "file portal exited");
    });
    (pid, reaper)
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

/// How a runtime's exit status reads as an [`Exit`].
fn exit_of(status: Option<&ExitStatus>) -> Option<Exit> {
    status.and_then(ExitStatus::code).and_then(Exit::from_code)
}

/// Why a runtime ended: [`describe_exit`] with the meaning of its exit codes
/// (docs/protocol.md lists them).
fn describe_runtime_exit(status: Option<&ExitStatus>) -> String {
    match exit_of(status) {
        Some(exit) if exit != Exit::Finished => format!("{} ({exit})", describe_exit(status)),
        _ => describe_exit(status),
    }
}
