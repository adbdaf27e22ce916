//! The compositor's event loop: clients, frames drawn when something changed
//! (at once, or when the last is 16 ms old), and commands from its controller
//! (the binary's signals and sockets, or a test) over a channel.

use std::collections::HashMap;
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use anyhow::Context;
use smithay::reexports::calloop::channel::{self, Channel, Event};
use smithay::reexports::calloop::generic::Generic;
use smithay::reexports::calloop::timer::{TimeoutAction, Timer};
use smithay::reexports::calloop::{
    EventLoop, Interest, LoopHandle, Mode, PostAction, RegistrationToken,
};
use smithay::reexports::wayland_server::Display;
use smithay::utils::{Logical, Size};
use smithay::wayland::socket::ListeningSocketSource;

use smithay::backend::libinput::{LibinputInputBackend, LibinputSessionInterface};
use smithay::backend::session::libseat::{LibSeatSession, LibSeatSessionNotifier};
use smithay::backend::session::{Event as SessionEvent, Session};
use smithay::backend::udev::UdevBackend;
use smithay::reexports::input::Libinput;

use crate::backend::{Backend, Headless, Screenshot};
use crate::drm::Drm;
use crate::limits::ClientState;
use crate::shell::WindowId;
use crate::state::{Authorization, Keymap, ShellEvent, TouchPhase, Weft};
use crate::winit::Winit;

/// The shortest time between two frames.
const FRAME: Duration = Duration::from_millis(16);
/// Frame times kept for [`Command::TakeFrameTimes`].
const FRAME_TIMES_KEPT: usize = 1_000;

/// Where the compositor draws.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum BackendKind {
    /// Into memory (tests, screenshots, the demo).
    #[default]
    Headless,
    /// In a window on an existing desktop (development).
    Winit,
    /// On a display through DRM/KMS, with libinput input (machines and VMs).
    Drm,
}

/// The backend in use.
enum Screen {
    Headless(Box<Headless>),
    Winit(Box<Winit>),
    Drm(Box<Drm>),
}

impl Screen {
    fn backend(&mut self) -> &mut dyn Backend {
        match self {
            Self::Headless(headless) => headless.as_mut(),
            Self::Winit(winit) => winit.as_mut(),
            Self::Drm(drm) => drm.as_mut(),
        }
    }
}

/// How the compositor starts.
#[derive(Clone, Debug)]
pub struct Config {
    /// Where it draws.
    pub backend: BackendKind,
    /// The output size in pixels.
    pub size: Size<i32, Logical>,
    /// A listening socket in `$XDG_RUNTIME_DIR`, and what its clients may do.
    pub socket: Option<(String, Authorization)>,
    /// Where sessions' Wayland sockets are made (`weft-session-<n>`).
    pub runtime_dir: PathBuf,
    /// The keyboard layout.
    pub keymap: Keymap,
    /// The DRM card to use (default: the seat's primary one).
    pub drm_device: Option<PathBuf>,
}

/// A request from the compositor's controller.
pub enum Command {
    /// Serve a client on `stream`, authorised as given.
    AddClient(UnixStream, Authorization),
    /// Send back an image of the last frame.
    Screenshot(mpsc::Sender<anyhow::Result<Screenshot>>),
    /// Send back the windows: id, app id (`None` for the panel), title.
    Windows(mpsc::Sender<Vec<(WindowId, Option<String>, String)>>),
    /// Close every window of an app, with a reason.
    CloseApp(String, String),
    /// Open a Wayland socket for a weft-appd session: its clients speak for
    /// the app and nothing else. Answers the socket's path.
    OpenSession {
        /// The session.
        session: u64,
        /// Its app.
        app_id: String,
        /// Where the path (or why not) goes.
        reply: mpsc::Sender<Result<PathBuf, String>>,
    },
    /// Close a session's socket and windows, with a reason.
    CloseSession(u64, String),
    /// Send every shell event from now on to this channel, under an id of the
    /// caller's choosing.
    Subscribe(u64, mpsc::Sender<ShellEvent>),
    /// Stop sending events to the channel subscribed under this id.
    Unsubscribe(u64),
    /// Focus a window.
    Focus(WindowId),
    /// Focus the application window of a weft-appd session; answers whether
    /// it has one.
    FocusSession(u64, mpsc::Sender<bool>),
    /// A key from a virtual keyboard (tests, remote input): evdev code, pressed.
    Key(u32, bool),
    /// Move a virtual pointer to (x, y) in output coordinates.
    PointerMotion(f64, f64),
    /// A virtual pointer button (evdev code, such as 0x110 for the left one),
    /// pressed or released.
    PointerButton(u32, bool),
    /// A virtual touch point (slot, phase, x, y in output coordinates).
    Touch(u32, TouchPhase, f64, f64),
    /// Redraw everything every frame (true) or only what changed (false).
    SetFullRedraw(bool),
    /// Send back how long each frame since the last request took to draw
    /// (at most the last 1,000).
    TakeFrameTimes(mpsc::Sender<Vec<Duration>>),
    /// Stop the loop.
    Stop,
}

impl Command {
    /// Whether the command may change what is on screen (the queries do not).
    fn changes_the_screen(&self) -> bool {
        !matches!(
            self,
            Command::Screenshot(_)
                | Command::Windows(_)
                | Command::Subscribe(..)
                | Command::Unsubscribe(_)
                | Command::TakeFrameTimes(_)
                | Command::Stop
        )
    }
}

/// Everything the loop's callbacks reach.
struct Compositor {
    display: Display<Weft>,
    state: Weft,
    backend: Screen,
    running: bool,
    /// A frame was due while the backend was busy; draw it when it is free.
    redraw_pending: bool,
    /// When the last frame was drawn.
    last_frame: Option<Instant>,
    /// When the last frame was finished.
    last_drawn: Option<Instant>,
    /// The timer that draws the next frame, when one is waiting for
    /// [`FRAME`] to pass since the last.
    frame_timer: Option<RegistrationToken>,
    frame_times: std::collections::VecDeque<Duration>,
    handle: LoopHandle<'static, Compositor>,
    runtime_dir: PathBuf,
    /// Each open session's listening socket: its path and event source.
    sessions: HashMap<u64, (PathBuf, RegistrationToken)>,
    subscribers: HashMap<u64, mpsc::Sender<ShellEvent>>,
}

impl Compositor {
    fn handle(&mut self, command: Command) {
        match command {
            Command::AddClient(stream, authorization) => {
                let data = Arc::new(ClientState::new(authorization));
                match self.display.handle().insert_client(stream, data) {
                    Ok(client) => self.state.limits.admit(client.id()),
                    Err(error) => tracing::warn!("cannot serve a client: {error}"),
                }
            }
            Command::Screenshot(reply) => {
                let shot = self.backend.backend().screenshot();
                let _ =
                    reply.send(shot.map(|shot| Screenshot { drawn_at: self.last_drawn, ..shot }));
            }
            Command::Windows(reply) => {
                let windows = self
                    .state
                    .windows
                    .iter()
                    .map(|(&id, window)| {
                        let app_id = match &window.role {
                            crate::shell::Role::Panel => None,
                            crate::shell::Role::Application { app_id } => Some(app_id.clone()),
                        };
                        (id, app_id, window.title.clone())
                    })
                    .collect();
                let _ = reply.send(windows);
            }
            Command::CloseApp(app_id, reason) => self.state.close_app(&app_id, &reason),
            Command::OpenSession { session, app_id, reply } => {
                let _ =
                    reply.send(self.open_session(session, app_id).map_err(|e| format!("{e:#}")));
            }
            Command::CloseSession(session, reason) => {
                if let Some((path, token)) = self.sessions.remove(&session) {
                    self.handle.remove(token);
                    let _ = std::fs::remove_file(path);
                }
                self.state.close_session(session, &reason);
            }
            Command::Subscribe(id, subscriber) => {
                self.subscribers.insert(id, subscriber);
            }
            Command::Unsubscribe(id) => {
                self.subscribers.remove(&id);
            }
            Command::Focus(window) => self.state.focus(window),
            Command::FocusSession(session, reply) => {
                let _ = reply.send(self.state.focus_session(session));
            }
            Command::Key(code, pressed) => self.state.key(code, pressed),
            Command::PointerMotion(x, y) => self.state.pointer_motion((x, y).into()),
            Command::PointerButton(button, pressed) => self.state.pointer_button(button, pressed),
            Command::Touch(slot, phase, x, y) => self.state.touch(slot, phase, (x, y).into()),
            Command::SetFullRedraw(full) => self.backend.backend().set_full_redraw(full),
            Command::TakeFrameTimes(reply) => {
                let _ = reply.send(self.frame_times.drain(..).collect());
            }
            Command::Stop => self.running = false,
        }
    }

    /// Serves each new security context's listening socket; its clients
    /// speak for the context's app id, which must be a valid one.
    fn adopt_security_contexts(&mut self) {
        for (source, context) in std::mem::take(&mut self.state.new_contexts) {
            let app_id = context.app_id.unwrap_or_default();
            if let Err(error) = weft_manifest::AppId::new(&app_id) {
                // Dropping the source closes the listening socket.
                tracing::warn!("security context refused: {app_id:?} is not an app id: {error}");
                continue;
            }
            tracing::info!(app = %app_id, "security context listening");
            let authorization = Authorization::app(app_id);
            let inserted = self.handle.insert_source(source, move |stream, _, compositor| {
                compositor.handle(Command::AddClient(stream, authorization.clone()));
            });
            if let Err(error) = inserted {
                tracing::warn!("cannot watch a security context: {error}");
            }
        }
    }

    /// Binds `weft-session-<session>` in the runtime directory and serves its
    /// clients as the session's app.
    fn open_session(&mut self, session: u64, app_id: String) -> anyhow::Result<PathBuf> {
        if self.sessions.contains_key(&session) {
            anyhow::bail!("session {session} already has a socket");
        }
        let path = self.runtime_dir.join(format!("weft-session-{session}"));
        let _ = std::fs::remove_file(&path);
        let listener = std::os::unix::net::UnixListener::bind(&path)
            .with_context(|| format!("binding {}", path.display()))?;
        std::fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o600))?;
        listener.set_nonblocking(true)?;
        let authorization = Authorization::session(app_id, session);
        let token = self
            .handle
            .insert_source(
                Generic::new(listener, Interest::READ, Mode::Level),
                move |_, listener, compositor| {
                    while let Ok((stream, _)) = listener.accept() {
                        compositor.handle(Command::AddClient(stream, authorization.clone()));
                    }
                    Ok(PostAction::Continue)
                },
            )
            .map_err(|error| anyhow::anyhow!("cannot watch {}: {error}", path.display()))?;
        self.sessions.insert(session, (path.clone(), token));
        Ok(path)
    }

    /// Hands the events since the last call to every subscriber (and keeps
    /// none: without subscribers they are dropped).
    fn publish(&mut self) {
        for event in std::mem::take(&mut self.state.events) {
            self.subscribers.retain(|_, subscriber| subscriber.send(event.clone()).is_ok());
        }
    }

    /// Draws what changed: at once when the last frame that changed the
    /// screen is at least [`FRAME`] old, else when it will be. Nothing is
    /// drawn while nothing changes.
    fn schedule_frame(&mut self) {
        if self.frame_timer.is_some() {
            return;
        }
        let since = self.last_frame.map_or(FRAME, |at| at.elapsed());
        let Some(wait) = FRAME.checked_sub(since).filter(|wait| !wait.is_zero()) else {
            self.frame();
            return;
        };
        let timer = self.handle.insert_source(Timer::from_duration(wait), |_, _, compositor| {
            compositor.frame_timer = None;
            compositor.frame();
            TimeoutAction::Drop
        });
        match timer {
            Ok(token) => self.frame_timer = Some(token),
            Err(error) => {
                tracing::warn!("cannot time the next frame: {error}");
                self.frame();
            }
        }
    }

    fn frame(&mut self) {
        if !self.backend.backend().ready() {
            self.redraw_pending = true;
            return;
        }
        self.redraw_pending = false;
        let started = Instant::now();
        let rendered = self.backend.backend().render(&self.state);
        // Frames are spaced only after one that changed the screen: one that
        // drew nothing (input over an unchanged screen) holds back no other.
        if rendered.as_ref().is_ok_and(|frame| frame.damaged) {
            self.last_frame = Some(started);
        }
        if self.frame_times.len() == FRAME_TIMES_KEPT {
            self.frame_times.pop_front();
        }
        self.frame_times.push_back(started.elapsed());
        self.last_drawn = Some(Instant::now());
        match rendered {
            Ok(frame) => self.state.frame_done(frame.damaged),
            Err(error) => tracing::warn!("rendering failed: {error:#}"),
        }
        let _ = self.display.flush_clients();
    }
}

/// Follows what a DRM/KMS display needs: page-flip events (a pending frame is
/// drawn as soon as the flip lands), libinput devices, the seat being paused
/// and resumed, and displays plugged in or out.
fn watch_drm(
    handle: &LoopHandle<'static, Compositor>,
    drm: &Drm,
    session_events: LibSeatSessionNotifier,
) -> anyhow::Result<()> {
    handle
        .insert_source(
            Generic::new(drm.device(), Interest::READ, Mode::Level),
            |_, _, compositor| {
                if let Screen::Drm(drm) = &mut compositor.backend
                    && let Err(error) = drm.dispatch_events()
                {
                    tracing::warn!("{error:#}");
                }
                if compositor.redraw_pending {
                    compositor.frame();
                }
                Ok(PostAction::Continue)
            },
        )
        .map_err(|error| anyhow::anyhow!("cannot watch the DRM device: {error}"))?;

    let session = drm.session();
    let seat = session.seat();
    let mut libinput =
        Libinput::new_with_udev::<LibinputSessionInterface<LibSeatSession>>(session.into());
    libinput
        .udev_assign_seat(&seat)
        .map_err(|()| anyhow::anyhow!("libinput cannot take the input devices of {seat}"))?;
    handle
        .insert_source(LibinputInputBackend::new(libinput.clone()), |event, _, compositor| {
            crate::input::handle(&mut compositor.state, event);
            compositor.schedule_frame();
        })
        .map_err(|error| anyhow::anyhow!("cannot watch input devices: {error}"))?;
    handle
        .insert_source(session_events, move |event, _, compositor| {
            let active = matches!(event, SessionEvent::ActivateSession);
            tracing::info!(active, "seat session changed");
            if active {
                let _ = libinput.resume();
            } else {
                libinput.suspend();
            }
            if let Screen::Drm(drm) = &mut compositor.backend {
                drm.set_active(active);
            }
            if active {
                compositor.frame();
            }
        })
        .map_err(|error| anyhow::anyhow!("cannot watch the seat: {error}"))?;

    match UdevBackend::new(&seat) {
        Ok(udev) => {
            handle
                .insert_source(udev, |_, _, compositor| {
                    let Screen::Drm(drm) = &mut compositor.backend else { return };
                    match drm.rescan() {
                        Ok(Some(size)) => compositor.state.resize_output((size.w, size.h).into()),
                        Ok(None) => {}
                        Err(error) => tracing::warn!("rescanning displays failed: {error:#}"),
                    }
                    compositor.schedule_frame();
                })
                .map_err(|error| anyhow::anyhow!("cannot watch udev: {error}"))?;
        }
        Err(error) => tracing::warn!("no display hotplug (udev monitor: {error})"),
    }
    Ok(())
}

/// Runs the compositor on this thread until [`Command::Stop`] (or the channel
/// closes).
pub fn run(config: Config, commands: Channel<Command>) -> anyhow::Result<()> {
    let mut event_loop: EventLoop<Compositor> = EventLoop::try_new()?;
    let mut display = Display::<Weft>::new()?;
    let mut state = Weft::new(display.handle(), config.size, &config.keymap)?;
    let handle = event_loop.handle();
    let backend = match config.backend {
        BackendKind::Headless => {
            Screen::Headless(Box::new(Headless::new((config.size.w, config.size.h).into())?))
        }
        BackendKind::Winit => {
            let (winit, events) = Winit::new((config.size.w, config.size.h).into())?;
            handle
                .insert_source(events, |event, _, compositor| {
                    if let Screen::Winit(winit) = &mut compositor.backend
                        && !crate::winit::handle_event(&mut compositor.state, winit, event)
                    {
                        compositor.running = false;
                    }
                    compositor.schedule_frame();
                })
                .map_err(|error| anyhow::anyhow!("cannot watch the window: {error}"))?;
            Screen::Winit(Box::new(winit))
        }
        BackendKind::Drm => {
            let (drm, session_events) = Drm::new(config.drm_device.as_deref())?;
            watch_drm(&handle, &drm, session_events)?;
            Screen::Drm(Box::new(drm))
        }
    };

    let poll_fd = display.backend().poll_fd().try_clone_to_owned()?;
    handle
        .insert_source(Generic::new(poll_fd, Interest::READ, Mode::Level), |_, _, compositor| {
            if let Err(error) = compositor.display.dispatch_clients(&mut compositor.state) {
                tracing::warn!("dispatching clients failed: {error}");
            }
            let display = compositor.state.display.clone();
            compositor.state.limits.enforce(&display);
            compositor.adopt_security_contexts();
            compositor.schedule_frame();
            let _ = compositor.display.flush_clients();
            compositor.publish();
            Ok(PostAction::Continue)
        })
        .map_err(|error| anyhow::anyhow!("cannot watch the display: {error}"))?;
    handle
        .insert_source(commands, |event, _, compositor| match event {
            Event::Msg(command) => {
                let redraw = command.changes_the_screen();
                compositor.handle(command);
                if redraw {
                    compositor.schedule_frame();
                }
                // Events the command caused (keys, closes) leave now, not
                // at the next frame.
                let _ = compositor.display.flush_clients();
                compositor.publish();
            }
            Event::Closed => compositor.running = false,
        })
        .map_err(|error| anyhow::anyhow!("cannot watch the command channel: {error}"))?;
    if let Some((name, authorization)) = config.socket {
        let socket = ListeningSocketSource::with_name(&name)
            .with_context(|| format!("binding the Wayland socket {name}"))?;
        handle
            .insert_source(socket, move |stream, _, compositor| {
                compositor.handle(Command::AddClient(stream, authorization.clone()));
            })
            .map_err(|error| anyhow::anyhow!("cannot listen: {error}"))?;
        tracing::info!(socket = %name, "listening");
    }

    // A window may not get the size asked for.
    let mut backend = backend;
    let size = backend.backend().size();
    if (size.w, size.h) != (config.size.w, config.size.h) {
        state.resize_output((size.w, size.h).into());
    }
    let mut compositor = Compositor {
        display,
        state,
        backend,
        running: true,
        redraw_pending: false,
        last_frame: None,
        last_drawn: None,
        frame_timer: None,
        frame_times: std::collections::VecDeque::with_capacity(FRAME_TIMES_KEPT),
        handle: event_loop.handle(),
        runtime_dir: config.runtime_dir,
        sessions: HashMap::new(),
        subscribers: HashMap::new(),
    };
    // A Type=notify unit starts its dependents now; elsewhere this does nothing.
    if let Err(error) = sd_notify::notify(&[sd_notify::NotifyState::Ready]) {
        tracing::warn!("cannot tell systemd we are ready: {error}");
    }
    compositor.schedule_frame();
    while compositor.running {
        event_loop.dispatch(None, &mut compositor)?;
    }
    for (path, _) in compositor.sessions.values() {
        let _ = std::fs::remove_file(path);
    }
    Ok(())
}

/// A compositor running on its own thread.
pub struct Handle {
    commands: channel::Sender<Command>,
    thread: Option<std::thread::JoinHandle<anyhow::Result<()>>>,
}

impl Handle {
    /// Starts a compositor on a new thread.
    pub fn spawn(config: Config) -> Self {
        let (commands, receiver) = channel::channel();
        let thread = std::thread::spawn(move || run(config, receiver));
        Self { commands, thread: Some(thread) }
    }

    /// A sender of commands to this compositor (for its control socket).
    pub fn commands(&self) -> channel::Sender<Command> {
        self.commands.clone()
    }

    /// Sends a command.
    pub fn send(&self, command: Command) {
        let _ = self.commands.send(command);
    }

    /// Serves a client on a new socket pair and returns the client's end.
    pub fn connect(&self, authorization: Authorization) -> std::io::Result<UnixStream> {
        let (ours, theirs) = UnixStream::pair()?;
        self.send(Command::AddClient(ours, authorization));
        Ok(theirs)
    }

    /// Asks something and waits for the answer.
    pub fn ask<T>(&self, command: impl FnOnce(mpsc::Sender<T>) -> Command) -> Option<T> {
        let (reply, answer) = mpsc::channel();
        self.send(command(reply));
        answer.recv_timeout(Duration::from_secs(10)).ok()
    }

    /// An image of the last frame.
    pub fn screenshot(&self) -> anyhow::Result<Screenshot> {
        self.ask(Command::Screenshot).context("the compositor did not answer")?
    }
}

impl Drop for Handle {
    fn drop(&mut self) {
        self.send(Command::Stop);
        if let Some(thread) = self.thread.take() {
            match thread.join() {
                Ok(Err(error)) => tracing::warn!("the compositor failed: {error:#}"),
                Err(_) => tracing::warn!("the compositor thread panicked"),
                Ok(Ok(())) => {}
            }
        }
    }
}
