//! The life of one session as a pure state machine: what happened goes in
//! ([`Input`]), what to do comes out ([`Effect`]), and nothing here does I/O.
//! The daemon feeds it the runtime's READY, the end of each run, terminations
//! and elapsed backoffs, and carries out the effects (announce a state, start
//! or stop a run, start the app shell, wait, release the image). The rules of
//! a session live here once, and the property tests below drive them with
//! random event sequences.

use std::time::Duration;

use weft_protocol::appd::SessionState;

use crate::config::RestartPolicy;

/// What happened to a session.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Input {
    /// A run's processes were started.
    RunStarted,
    /// Starting a run failed, for this reason.
    StartFailed(String),
    /// The run's app reported READY.
    Ready,
    /// The run ended and everything it started is gone.
    RunEnded {
        /// Anything but a clean exit 0.
        failed: bool,
        /// Why, in words.
        reason: String,
    },
    /// The operator or the system UI asked to end the session.
    Terminate,
    /// The wait before a restart is over.
    BackoffElapsed,
}

/// What the daemon must do.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Effect {
    /// Record and announce the state (an `APP_STATE` event).
    Announce(SessionState, Option<String>),
    /// Start the app's UI shell (the app is ready).
    StartShell,
    /// Ask the current run to end: SIGTERM, the grace period, then SIGKILL.
    StopRun,
    /// Wait this long, then feed [`Input::BackoffElapsed`].
    Backoff(Duration),
    /// Start a new run of the session; feed [`Input::RunStarted`] or
    /// [`Input::StartFailed`].
    StartRun,
    /// The session is over: release what it held (its image mount).
    Release,
}

/// Why an input was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Refused {
    /// A termination of a session that has stopped.
    #[error("the session is already stopped")]
    AlreadyStopped,
}

/// One session's state and what its rules need to remember.
#[derive(Clone, Debug)]
pub struct Lifecycle {
    policy: RestartPolicy,
    state: SessionState,
    reason: Option<String>,
    restarts: u32,
    stop_requested: bool,
    /// A run's processes exist (started and not yet ended).
    run_alive: bool,
    /// A run is being started ([`Effect::StartRun`] not yet answered).
    starting: bool,
}

impl Lifecycle {
    /// A new session under `policy`, and its first effects: announce
    /// `starting` and start the first run.
    pub fn launch(policy: RestartPolicy) -> (Self, Vec<Effect>) {
        let lifecycle = Self {
            policy,
            state: SessionState::Starting,
            reason: None,
            restarts: 0,
            stop_requested: false,
            run_alive: false,
            starting: true,
        };
        (lifecycle, vec![Effect::Announce(SessionState::Starting, None), Effect::StartRun])
    }

    /// The state now.
    pub fn state(&self) -> SessionState {
        self.state
    }

    /// Why it is in this state (a stop or restart reason).
    pub fn reason(&self) -> Option<&str> {
        self.reason.as_deref()
    }

    /// How often the app was restarted.
    pub fn restarts(&self) -> u32 {
        self.restarts
    }

    /// Takes `input` and returns what to do. A stopped session starts
    /// nothing further: a termination is refused, a run that comes up anyway
    /// is stopped, and every other input yields no effect.
    pub fn on(&mut self, input: Input) -> Result<Vec<Effect>, Refused> {
        if self.state == SessionState::Stopped {
            return match input {
                Input::Terminate => Err(Refused::AlreadyStopped),
                Input::RunStarted => Ok(vec![Effect::StopRun]),
                _ => Ok(Vec::new()),
            };
        }
        Ok(match input {
            Input::RunStarted => {
                self.starting = false;
                self.run_alive = true;
                if self.stop_requested { vec![Effect::StopRun] } else { Vec::new() }
            }
            Input::StartFailed(reason) => {
                self.starting = false;
                self.run_alive = false;
                self.stop(reason)
            }
            Input::Ready if self.run_alive && self.state == SessionState::Starting => {
                self.set(SessionState::Running, None);
                vec![Effect::Announce(SessionState::Running, None), Effect::StartShell]
            }
            Input::Ready => Vec::new(),
            Input::RunEnded { failed, reason } => {
                self.run_alive = false;
                let restart = failed
                    && !self.stop_requested
                    && self.policy.on_failure
                    && self.restarts < self.policy.max_restarts;
                if !restart {
                    return Ok(self.stop(reason));
                }
                self.restarts += 1;
                let reason = format!(
                    "restart {} of {} after: {reason}",
                    self.restarts, self.policy.max_restarts
                );
                self.set(SessionState::Starting, Some(reason.clone()));
                vec![
                    Effect::Announce(SessionState::Starting, Some(reason)),
                    Effect::Backoff(self.policy.backoff_before(self.restarts)),
                ]
            }
            Input::Terminate if self.state == SessionState::Stopping => Vec::new(),
            Input::Terminate => {
                self.stop_requested = true;
                if self.run_alive || self.starting {
                    self.set(SessionState::Stopping, None);
                    let mut effects = vec![Effect::Announce(SessionState::Stopping, None)];
                    // A run being started is stopped once it is up.
                    if self.run_alive {
                        effects.push(Effect::StopRun);
                    }
                    effects
                } else {
                    // Between runs: waiting out a backoff.
                    self.stop("terminated".to_owned())
                }
            }
            Input::BackoffElapsed if !self.run_alive && !self.starting => {
                self.starting = true;
                vec![Effect::StartRun]
            }
            Input::BackoffElapsed => Vec::new(),
        })
    }

    fn set(&mut self, state: SessionState, reason: Option<String>) {
        self.state = state;
        self.reason = reason;
    }

    fn stop(&mut self, reason: String) -> Vec<Effect> {
        self.set(SessionState::Stopped, Some(reason.clone()));
        vec![Effect::Announce(SessionState::Stopped, Some(reason)), Effect::Release]
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn policy(on_failure: bool, max_restarts: u32) -> RestartPolicy {
        RestartPolicy { on_failure, max_restarts, backoff: Duration::from_millis(500) }
    }

    /// What the world may do next, whatever the daemon asked for.
    #[derive(Clone, Debug)]
    enum Happening {
        /// A run the daemon is starting comes up, or fails to.
        StartDone {
            fails: bool,
        },
        Ready,
        Exit {
            failed: bool,
        },
        Terminate,
        /// A daemon restart: the session's processes are killed (the run
        /// ends as failed) and the successor knows nothing of it.
        DaemonKilled,
    }

    fn happening() -> impl Strategy<Value = Happening> {
        prop_oneof![
            3 => any::<bool>().prop_map(|fails| Happening::StartDone { fails }),
            3 => Just(Happening::Ready),
            3 => any::<bool>().prop_map(|failed| Happening::Exit { failed }),
            1 => Just(Happening::Terminate),
            1 => Just(Happening::DaemonKilled),
        ]
    }

    /// A model daemon: carries out effects the way the real one does (a run
    /// being started comes up later, or fails to; a stopped run ends; backoffs
    /// elapse) and checks every invariant after each step.
    struct Model {
        life: Lifecycle,
        runs_alive: u32,
        shells_alive: u32,
        pending_start: bool,
        pending_backoff: bool,
        released: u32,
        stopped_announcements: u32,
        last_announced: Option<SessionState>,
        daemon_gone: bool,
    }

    impl Model {
        fn new(on_failure: bool, max: u32) -> Self {
            let (life, effects) = Lifecycle::launch(policy(on_failure, max));
            let mut model = Self {
                life,
                runs_alive: 0,
                shells_alive: 0,
                pending_start: false,
                pending_backoff: false,
                released: 0,
                stopped_announcements: 0,
                last_announced: None,
                daemon_gone: false,
            };
            model.apply(effects);
            model
        }

        fn feed(&mut self, input: Input) {
            let effects = match self.life.on(input.clone()) {
                Ok(effects) => effects,
                Err(Refused::AlreadyStopped) => {
                    assert_eq!(input, Input::Terminate);
                    assert_eq!(self.life.state(), SessionState::Stopped);
                    Vec::new()
                }
            };
            self.apply(effects);
        }

        fn apply(&mut self, effects: Vec<Effect>) {
            let mut stop = false;
            for effect in effects {
                match effect {
                    Effect::Announce(state, reason) => {
                        assert_eq!(state, self.life.state(), "announced what it is");
                        if state == SessionState::Stopped {
                            assert!(reason.is_some(), "stopped without a reason");
                            self.stopped_announcements += 1;
                        }
                        self.last_announced = Some(state);
                    }
                    Effect::StartShell => {
                        assert_eq!(self.runs_alive, 1, "a shell without a run");
                        self.shells_alive += 1;
                    }
                    Effect::StopRun => stop = true,
                    Effect::Backoff(_) => self.pending_backoff = true,
                    Effect::StartRun => {
                        assert_eq!(self.runs_alive, 0, "two runs of one session");
                        assert!(!self.pending_start, "two starts at once");
                        assert!(!self.daemon_gone, "a run started for a dead daemon");
                        self.pending_start = true;
                    }
                    Effect::Release => self.released += 1,
                }
            }
            self.check();
            // A stopped run obeys at once in the model.
            if stop {
                self.end_run(true, "terminated");
            }
        }

        fn end_run(&mut self, failed: bool, reason: &str) {
            if self.runs_alive == 0 {
                return;
            }
            // A run's end takes its shell with it (the daemon tears it down).
            self.runs_alive -= 1;
            self.shells_alive = 0;
            self.feed(Input::RunEnded { failed, reason: reason.into() });
        }

        fn happen(&mut self, happening: Happening) {
            match happening {
                Happening::StartDone { fails } if self.pending_start && !self.daemon_gone => {
                    self.pending_start = false;
                    if fails {
                        self.feed(Input::StartFailed("cannot start".into()));
                    } else {
                        self.runs_alive += 1;
                        self.feed(Input::RunStarted);
                    }
                }
                Happening::StartDone { .. } => {}
                Happening::Ready if self.runs_alive == 1 => self.feed(Input::Ready),
                Happening::Ready => {}
                Happening::Exit { failed } => {
                    self.end_run(failed, if failed { "exited 4" } else { "finished" });
                }
                Happening::Terminate => self.feed(Input::Terminate),
                Happening::DaemonKilled => {
                    self.daemon_gone = true;
                    self.runs_alive = 0;
                    self.shells_alive = 0;
                    self.pending_start = false;
                }
            }
            if std::mem::take(&mut self.pending_backoff) && !self.daemon_gone {
                self.feed(Input::BackoffElapsed);
            }
        }

        fn check(&self) {
            let state = self.life.state();
            assert!(self.life.restarts() <= self.life.policy.max_restarts, "over the policy");
            if !self.life.policy.on_failure {
                assert_eq!(self.life.restarts(), 0, "restarted without the policy");
            }
            assert_eq!(self.last_announced, Some(state), "a state change was not announced");
            assert!(self.stopped_announcements <= 1, "stopped twice");
            assert_eq!(self.released, u32::from(state == SessionState::Stopped), "image release");
            if state == SessionState::Stopped {
                assert!(!self.pending_start, "a run is starting for a stopped session");
                assert!(self.life.reason().is_some());
            }
            if state == SessionState::Running {
                assert_eq!(self.runs_alive, 1, "running without a run");
            }
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(4_000))]

        #[test]
        fn any_sequence_keeps_the_rules(
            on_failure in any::<bool>(),
            max in 0u32..4,
            happenings in proptest::collection::vec(happening(), 0..48),
        ) {
            let mut model = Model::new(on_failure, max);
            for happening in happenings {
                model.happen(happening);
                // Whatever happened, a stopped session has nothing alive.
                if model.life.state() == SessionState::Stopped {
                    prop_assert_eq!(model.runs_alive + model.shells_alive, 0, "outlived its session");
                }
            }
            // Quiescence: pending starts come up and apps get ready; the
            // session is Running or Stopped with a reason; a termination then
            // leaves nothing alive and the image released once.
            if !model.daemon_gone {
                model.happen(Happening::StartDone { fails: false });
                while model.life.state() == SessionState::Starting && model.runs_alive == 1 {
                    model.happen(Happening::Ready);
                }
                let state = model.life.state();
                prop_assert!(
                    state == SessionState::Running || state == SessionState::Stopped,
                    "ended {:?}", state
                );
                model.happen(Happening::Terminate);
                prop_assert_eq!(model.life.state(), SessionState::Stopped);
                prop_assert_eq!(model.runs_alive + model.shells_alive, 0);
                prop_assert_eq!(model.released, 1);
                prop_assert!(model.life.reason().is_some());
            }
        }
    }

    #[test]
    fn a_failing_app_restarts_within_the_policy_then_stops_with_its_reason() {
        let (mut life, _) = Lifecycle::launch(policy(true, 2));
        life.on(Input::RunStarted).unwrap();
        let ended = || Input::RunEnded { failed: true, reason: "exited 4 (app trapped)".into() };
        assert_eq!(
            life.on(ended()).unwrap(),
            vec![
                Effect::Announce(
                    SessionState::Starting,
                    Some("restart 1 of 2 after: exited 4 (app trapped)".into())
                ),
                Effect::Backoff(Duration::from_millis(500)),
            ]
        );
        assert_eq!(life.on(Input::BackoffElapsed).unwrap(), vec![Effect::StartRun]);
        life.on(Input::RunStarted).unwrap();
        assert_eq!(
            life.on(ended()).unwrap()[1],
            Effect::Backoff(Duration::from_millis(1_000)),
            "the backoff doubles"
        );
        life.on(Input::BackoffElapsed).unwrap();
        life.on(Input::RunStarted).unwrap();
        assert_eq!(
            life.on(ended()).unwrap(),
            vec![
                Effect::Announce(SessionState::Stopped, Some("exited 4 (app trapped)".into())),
                Effect::Release,
            ]
        );
        assert_eq!(life.on(Input::Terminate), Err(Refused::AlreadyStopped));
        assert_eq!(life.on(Input::BackoffElapsed).unwrap(), Vec::new(), "nothing after the end");
    }

    #[test]
    fn a_termination_during_a_backoff_ends_the_session_without_a_new_run() {
        let (mut life, _) = Lifecycle::launch(policy(true, 3));
        life.on(Input::RunStarted).unwrap();
        life.on(Input::RunEnded { failed: true, reason: "exited 4".into() }).unwrap();
        assert_eq!(
            life.on(Input::Terminate).unwrap(),
            vec![
                Effect::Announce(SessionState::Stopped, Some("terminated".into())),
                Effect::Release
            ]
        );
        assert_eq!(life.on(Input::BackoffElapsed).unwrap(), Vec::new());
    }

    #[test]
    fn a_termination_while_a_run_starts_stops_the_run_once_it_is_up() {
        let (mut life, _) = Lifecycle::launch(policy(false, 0));
        assert_eq!(
            life.on(Input::Terminate).unwrap(),
            vec![Effect::Announce(SessionState::Stopping, None)]
        );
        assert_eq!(life.on(Input::RunStarted).unwrap(), vec![Effect::StopRun]);
        let ended = life.on(Input::RunEnded { failed: true, reason: "terminated".into() });
        assert_eq!(
            ended.unwrap(),
            vec![
                Effect::Announce(SessionState::Stopped, Some("terminated".into())),
                Effect::Release
            ]
        );
    }
}
