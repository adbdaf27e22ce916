//! A shell's window on weft-compositor: a zweft-shell window (the `panel` for
//! the system UI, an `application` window for an app) that shows RGBA frames
//! through wl_shm, and reports what the compositor says (size, focus, close,
//! navigation gestures) and the input aimed at it, for the shell to hand to
//! its web view.

use std::io::ErrorKind;
use std::os::fd::BorrowedFd;
use std::os::unix::net::UnixStream;
use std::sync::Arc;
use std::time::Duration;

use wayland_client::backend::WaylandError;
use wayland_client::protocol::{
    wl_buffer, wl_callback, wl_compositor, wl_registry, wl_seat, wl_shm, wl_shm_pool, wl_surface,
};
use wayland_client::{Connection, Dispatch, EventQueue, QueueHandle, WEnum};
use weft_protocol::zweft::client::zweft_shell_manager_v1::{self, ZweftShellManagerV1};
use weft_protocol::zweft::client::zweft_shell_window_v1::{self, ZweftShellWindowV1};

use crate::frames::{BufferState, Frames, RowOrder, frame_bytes, pick_format};
use crate::keymap::Layout;

mod input;

/// Frames a window presents per draw of the compositor: the one drawn, and one
/// newer that replaces it while it still waits (see [`ShellWindow::wants_frame`]).
pub const FRAMES_PER_DRAW: u8 = 2;

/// What the window is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// The system UI along the screen's edge (only the system UI's connection).
    Panel,
    /// An app's UI (only for the app the connection speaks for).
    Application,
}

/// Input aimed at the window, in surface coordinates.
#[derive(Clone, Debug, PartialEq)]
pub enum Input {
    /// The pointer moved to (`x`, `y`).
    PointerMotion {
        /// Surface x.
        x: f64,
        /// Surface y.
        y: f64,
    },
    /// A button (evdev code) went down or up.
    PointerButton {
        /// The evdev button code.
        button: u32,
        /// Down (true) or up.
        pressed: bool,
    },
    /// A key (evdev code) went down or up.
    Key {
        /// The evdev key code.
        code: u32,
        /// Down (true) or up.
        pressed: bool,
        /// The text it types in the compositor's layout with the modifiers
        /// held (`ä`, `€`), if any.
        text: Option<String>,
    },
    /// A finger touched, moved or lifted.
    Touch {
        /// The touch point.
        id: i32,
        /// Surface x (0 when lifted).
        x: f64,
        /// Surface y (0 when lifted).
        y: f64,
        /// Down, motion or up.
        phase: TouchPhase,
    },
}

/// A touch point's phase.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TouchPhase {
    /// Touched.
    Down,
    /// Moved.
    Motion,
    /// Lifted.
    Up,
}

/// What happened to the window since the last [`ShellWindow::dispatch`].
#[derive(Clone, Debug, PartialEq)]
pub enum Event {
    /// The compositor gave the window this size; draw frames of it.
    Configured {
        /// Width in pixels.
        width: i32,
        /// Height in pixels.
        height: i32,
    },
    /// The window got (true) or lost the keyboard.
    Focus(bool),
    /// The compositor closed the window, saying why; the shell should exit.
    Closed(String),
    /// A navigation gesture for the panel (such as `switch-app`).
    Gesture(String),
    /// Input aimed at the window.
    Input(Input),
}

/// Why the window could not be made or shown.
#[derive(Debug, thiserror::Error)]
pub enum WindowError {
    /// No Wayland connection.
    #[error("cannot connect to the compositor: {0}")]
    Connect(String),
    /// The compositor lacks a global the window needs.
    #[error("the compositor offers no {0}")]
    Missing(&'static str),
    /// The connection failed, or the compositor ended it (a protocol error
    /// such as an app id this connection may not speak for).
    #[error("the compositor connection failed: {0}")]
    Connection(String),
    /// A frame does not match its size.
    #[error("a {width}x{height} frame needs {expected} RGBA bytes, not {actual}")]
    FrameSize {
        /// Width.
        width: i32,
        /// Height.
        height: i32,
        /// Bytes needed.
        expected: usize,
        /// Bytes given.
        actual: usize,
    },
    /// Shared memory for a frame could not be made.
    #[error("cannot make a frame buffer: {0}")]
    Buffer(#[from] std::io::Error),
}

/// A zweft-shell window showing a shell's frames.
pub struct ShellWindow {
    connection: Connection,
    queue: EventQueue<State>,
    state: State,
    window: ZweftShellWindowV1,
    /// The buffers frames are shown in, made for the last frame's size.
    frames: Option<Frames>,
}

/// The connection's objects and what arrived.
struct State {
    compositor: Option<wl_compositor::WlCompositor>,
    shm: Option<wl_shm::WlShm>,
    /// The pixel formats the compositor's wl_shm takes.
    formats: Vec<wl_shm::Format>,
    manager: Option<ZweftShellManagerV1>,
    surface: Option<wl_surface::WlSurface>,
    size: Option<(i32, i32)>,
    /// The compositor's keyboard layout, once it sent its keymap.
    layout: Option<Layout>,
    events: Vec<Event>,
    /// Frames presented since the compositor last drew this window (its frame
    /// callback came): 0, 1 or [`FRAMES_PER_DRAW`].
    frames_waiting: u8,
}

impl ShellWindow {
    /// Opens a window on the compositor of `$WAYLAND_DISPLAY` (the app
    /// shell's session socket, or the system UI's socket), asking for `size`
    /// (the compositor decides; a panel's height is its thickness).
    pub fn connect(
        app_id: &str,
        title: &str,
        role: Role,
        size: (i32, i32),
    ) -> Result<Self, WindowError> {
        let connection = Connection::connect_to_env()
            .map_err(|error| WindowError::Connect(error.to_string()))?;
        Self::open(connection, app_id, title, role, size)
    }

    /// Opens a window on the compositor at the other end of `stream`.
    pub fn on(
        stream: UnixStream,
        app_id: &str,
        title: &str,
        role: Role,
        size: (i32, i32),
    ) -> Result<Self, WindowError> {
        let connection = Connection::from_socket(stream)
            .map_err(|error| WindowError::Connect(error.to_string()))?;
        Self::open(connection, app_id, title, role, size)
    }

    fn open(
        connection: Connection,
        app_id: &str,
        title: &str,
        role: Role,
        (width, height): (i32, i32),
    ) -> Result<Self, WindowError> {
        let mut queue = connection.new_event_queue();
        let handle = queue.handle();
        connection.display().get_registry(&handle, ());
        let mut state = State {
            compositor: None,
            shm: None,
            formats: Vec::new(),
            manager: None,
            surface: None,
            size: None,
            layout: None,
            events: Vec::new(),
            frames_waiting: 0,
        };
        queue.roundtrip(&mut state).map_err(connection_error)?;
        let compositor = state.compositor.clone().ok_or(WindowError::Missing("wl_compositor"))?;
        state.shm.as_ref().ok_or(WindowError::Missing("wl_shm"))?;
        let manager =
            state.manager.clone().ok_or(WindowError::Missing("zweft_shell_manager_v1"))?;
        let surface = compositor.create_surface(&handle, ());
        let role = match role {
            Role::Panel => zweft_shell_manager_v1::Role::Panel,
            Role::Application => zweft_shell_manager_v1::Role::Application,
        };
        let window = manager.create_window(
            app_id.to_owned(),
            title.to_owned(),
            role,
            &surface,
            0,
            0,
            width,
            height,
            &handle,
            (),
        );
        state.surface = Some(surface);
        let mut window = Self { connection, queue, state, window, frames: None };
        // The first configure says how large to draw; a refused window gets a
        // protocol error instead.
        while window.state.size.is_none() {
            window.queue.blocking_dispatch(&mut window.state).map_err(connection_error)?;
        }
        Ok(window)
    }

    /// The size the compositor gave the window.
    pub fn size(&self) -> (i32, i32) {
        self.state.size.unwrap_or((1, 1))
    }

    /// Shows `rgba` (`width`×`height`, 4 bytes a pixel, its rows in `order`).
    pub fn present(
        &mut self,
        rgba: &[u8],
        width: i32,
        height: i32,
        order: RowOrder,
    ) -> Result<(), WindowError> {
        self.present_rows(rgba, width, height, order, 0..height)
    }

    /// Shows `rgba` like [`Self::present`], telling the compositor that only
    /// the `changed` rows (top-down) differ from the frame presented last
    /// ([`crate::frames::changed_rows`]), so it draws only those again.
    pub fn present_rows(
        &mut self,
        rgba: &[u8],
        width: i32,
        height: i32,
        order: RowOrder,
        changed: std::ops::Range<i32>,
    ) -> Result<(), WindowError> {
        let expected = frame_bytes(width, height);
        if rgba.len() != expected || width <= 0 || height <= 0 {
            return Err(WindowError::FrameSize { width, height, expected, actual: rgba.len() });
        }
        let format = pick_format(&self.state.formats);
        let shm = self.state.shm.as_ref().ok_or(WindowError::Missing("wl_shm"))?;
        let handle = self.queue.handle();
        let frames = match self.frames.take() {
            Some(frames) if frames.fits((width, height), format) => frames,
            // A new size (the old buffers go once the compositor lets go).
            _ => Frames::new(shm, (width, height), format, &handle)?,
        };
        let frames = self.frames.insert(frames);
        let buffer = match frames.write(rgba, order)? {
            Some(buffer) => buffer.clone(),
            // The compositor holds every buffer: a fresh pool, never a lost frame.
            None => {
                *frames = Frames::new(shm, (width, height), format, &handle)?;
                frames.write(rgba, order)?.expect("a fresh pool's buffers are free").clone()
            }
        };
        let surface = self.state.surface.as_ref().expect("the window's surface");
        surface.attach(Some(&buffer), 0, 0);
        surface.damage_buffer(0, changed.start, width, changed.end - changed.start);
        surface.frame(&handle, ());
        self.state.frames_waiting = (self.state.frames_waiting + 1).min(FRAMES_PER_DRAW);
        surface.commit();
        self.flush()
    }

    /// Whether to present a new frame now: fewer than [`FRAMES_PER_DRAW`]
    /// wait for the compositor's next draw of this window. A shell paints only
    /// then: once the compositor drew the last frame (its frame callback
    /// came), and once more to replace a frame still waiting, so a newer page
    /// (an app's answer just after a click's own frame) is not held back a
    /// whole draw. Newer frames than that replace each other unpainted, and a
    /// hidden window stops painting until it is shown again.
    pub fn wants_frame(&self) -> bool {
        self.state.frames_waiting < FRAMES_PER_DRAW
    }

    /// Waits up to `timeout` for the compositor, then returns what happened.
    pub fn dispatch(&mut self, timeout: Duration) -> Result<Vec<Event>, WindowError> {
        self.dispatch_or_wake(timeout, None)
    }

    /// [`ShellWindow::dispatch`], returning early too when `wake` turns
    /// readable (an eventfd the shell writes when its engine has work), so
    /// the engine's work never waits for the timeout.
    pub fn dispatch_or_wake(
        &mut self,
        timeout: Duration,
        wake: Option<BorrowedFd<'_>>,
    ) -> Result<Vec<Event>, WindowError> {
        self.flush()?;
        self.queue.dispatch_pending(&mut self.state).map_err(connection_error)?;
        if self.state.events.is_empty()
            && let Some(guard) = self.queue.prepare_read()
        {
            let fd = guard.connection_fd();
            let mut poll = vec![rustix::event::PollFd::new(&fd, rustix::event::PollFlags::IN)];
            if let Some(wake) = &wake {
                poll.push(rustix::event::PollFd::new(wake, rustix::event::PollFlags::IN));
            }
            let timeout = rustix::event::Timespec::try_from(timeout).ok();
            let ready = rustix::event::poll(&mut poll, timeout.as_ref()).unwrap_or(0);
            if ready > 0 && !poll[0].revents().is_empty() {
                match guard.read() {
                    Ok(_) => {}
                    // Readable by poll, but another read took the bytes.
                    Err(WaylandError::Io(error)) if error.kind() == ErrorKind::WouldBlock => {}
                    Err(error) => return Err(WindowError::Connection(error.to_string())),
                }
            }
            self.queue.dispatch_pending(&mut self.state).map_err(connection_error)?;
        }
        Ok(std::mem::take(&mut self.state.events))
    }

    /// Sends what is queued; a full socket keeps the rest for the next call
    /// (the compositor is behind, not gone).
    fn flush(&self) -> Result<(), WindowError> {
        match self.connection.flush() {
            Err(WaylandError::Io(error)) if error.kind() == ErrorKind::WouldBlock => Ok(()),
            other => other.map_err(|error| WindowError::Connection(error.to_string())),
        }
    }

    /// Renames the window.
    pub fn set_title(&mut self, title: &str) {
        self.window.update_metadata(title.to_owned());
        let _ = self.flush();
    }

    /// Asks for `height` pixels (zweft-shell's `set_geometry`): the panel's
    /// thickness is its own to choose, within the compositor's bounds; an
    /// application's geometry stays the compositor's. The answer comes as
    /// [`Event::Configured`].
    pub fn request_height(&mut self, height: i32) {
        let (width, _) = self.size();
        self.window.set_geometry(0, 0, width, height);
        let _ = self.flush();
    }
}

fn connection_error(error: wayland_client::DispatchError) -> WindowError {
    WindowError::Connection(error.to_string())
}

impl Dispatch<wl_registry::WlRegistry, ()> for State {
    fn event(
        state: &mut Self,
        registry: &wl_registry::WlRegistry,
        event: wl_registry::Event,
        _: &(),
        _: &Connection,
        handle: &QueueHandle<Self>,
    ) {
        let wl_registry::Event::Global { name, interface, .. } = event else { return };
        match interface.as_str() {
            "wl_compositor" => state.compositor = Some(registry.bind(name, 4, handle, ())),
            "wl_shm" => state.shm = Some(registry.bind(name, 1, handle, ())),
            "zweft_shell_manager_v1" => state.manager = Some(registry.bind(name, 1, handle, ())),
            "wl_seat" => {
                registry.bind::<wl_seat::WlSeat, _, _>(name, 5, handle, ());
            }
            _ => {}
        }
    }
}

impl Dispatch<ZweftShellWindowV1, ()> for State {
    fn event(
        state: &mut Self,
        _: &ZweftShellWindowV1,
        event: zweft_shell_window_v1::Event,
        _: &(),
        _: &Connection,
        _: &QueueHandle<Self>,
    ) {
        let event = match event {
            zweft_shell_window_v1::Event::Configure { width, height, .. } => {
                state.size = Some((width, height));
                Event::Configured { width, height }
            }
            zweft_shell_window_v1::Event::FocusChanged { focused } => Event::Focus(focused == 1),
            zweft_shell_window_v1::Event::WindowClosed { reason } => Event::Closed(reason),
            zweft_shell_window_v1::Event::NavigationGesture { gesture } => Event::Gesture(gesture),
            _ => return,
        };
        state.events.push(event);
    }
}

/// Objects whose events a shell window does not need.
macro_rules! ignore_events {
    ($($interface:ty),*) => {$(
        impl Dispatch<$interface, ()> for State {
            fn event(_: &mut Self, _: &$interface, _: <$interface as wayland_client::Proxy>::Event, _: &(), _: &Connection, _: &QueueHandle<Self>) {}
        }
    )*};
}
ignore_events!(
    wl_compositor::WlCompositor,
    wl_surface::WlSurface,
    wl_shm_pool::WlShmPool,
    ZweftShellManagerV1
);

impl Dispatch<wl_callback::WlCallback, ()> for State {
    fn event(
        state: &mut Self,
        _: &wl_callback::WlCallback,
        event: wl_callback::Event,
        _: &(),
        _: &Connection,
        _: &QueueHandle<Self>,
    ) {
        if let wl_callback::Event::Done { .. } = event {
            state.frames_waiting = 0;
        }
    }
}

impl Dispatch<wl_shm::WlShm, ()> for State {
    fn event(
        state: &mut Self,
        _: &wl_shm::WlShm,
        event: wl_shm::Event,
        _: &(),
        _: &Connection,
        _: &QueueHandle<Self>,
    ) {
        if let wl_shm::Event::Format { format: WEnum::Value(format) } = event {
            state.formats.push(format);
        }
    }
}

impl Dispatch<wl_buffer::WlBuffer, Arc<BufferState>> for State {
    fn event(
        _: &mut Self,
        buffer: &wl_buffer::WlBuffer,
        event: wl_buffer::Event,
        buffer_state: &Arc<BufferState>,
        _: &Connection,
        _: &QueueHandle<Self>,
    ) {
        if let wl_buffer::Event::Release = event {
            crate::frames::released(buffer, buffer_state);
        }
    }
}
