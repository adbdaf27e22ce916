//! A small deterministic Wayland client for the compositor tests: it draws one
//! solid colour at exactly the configured size (wl_shm), through zweft-shell
//! or xdg-shell, and records what the compositor tells it.
#![allow(dead_code, reason = "each test file uses a different part")]

pub mod wire;

use std::os::fd::AsFd;
use std::os::unix::net::UnixStream;
use std::time::{Duration, Instant};

use wayland_client::protocol::{
    wl_buffer, wl_callback, wl_compositor, wl_keyboard, wl_pointer, wl_registry, wl_seat, wl_shm,
    wl_shm_pool, wl_surface, wl_touch,
};
use wayland_client::{Connection, Dispatch, EventQueue, QueueHandle, WEnum};
use wayland_protocols::wp::security_context::v1::client::{
    wp_security_context_manager_v1::WpSecurityContextManagerV1,
    wp_security_context_v1::WpSecurityContextV1,
};
use wayland_protocols::xdg::shell::client::{xdg_surface, xdg_toplevel, xdg_wm_base};
use weft_compositor::server::{Command, Config, Handle};
use weft_compositor::state::{Authorization, Keymap};
use weft_protocol::zweft::client::zweft_shell_manager_v1::{self, ZweftShellManagerV1};
use weft_protocol::zweft::client::zweft_shell_window_v1::{self, ZweftShellWindowV1};

/// What the compositor told the client.
#[derive(Debug, Default)]
pub struct Seen {
    /// zweft configures: x, y, width, height, states.
    pub configures: Vec<(i32, i32, i32, i32, u32)>,
    /// xdg toplevel sizes.
    pub xdg_sizes: Vec<(i32, i32)>,
    /// focus_changed values, and xdg activation changes.
    pub focus: Vec<bool>,
    /// window_closed reasons.
    pub closed: Vec<String>,
    /// xdg close requests.
    pub xdg_close: usize,
    /// presentation_feedback sequence numbers.
    pub presented: Vec<u32>,
    /// Keys pressed (evdev codes).
    pub keys: Vec<u32>,
    /// Whether this client had keyboard focus last.
    pub keyboard_entered: bool,
    /// When each key press arrived.
    pub key_times: Vec<Instant>,
    /// Where the pointer entered this client's surface (surface coordinates).
    pub pointer_enters: Vec<(f64, f64)>,
    /// Pointer leaves.
    pub pointer_leaves: usize,
    /// Buttons pressed on this client's surface.
    pub buttons: Vec<u32>,
    /// Touch downs on this client's surface (surface coordinates), and ups.
    pub touch_downs: Vec<(f64, f64)>,
    /// Touch points lifted.
    pub touch_ups: usize,
    /// The keymap the compositor sent (xkb text).
    pub keymap: String,
}

/// The client's state.
pub struct State {
    compositor: Option<wl_compositor::WlCompositor>,
    shm: Option<wl_shm::WlShm>,
    wm_base: Option<xdg_wm_base::XdgWmBase>,
    manager: Option<ZweftShellManagerV1>,
    /// wp_security_context_manager_v1, when the compositor offers it.
    pub security: Option<WpSecurityContextManagerV1>,
    surface: Option<wl_surface::WlSurface>,
    colour: [u8; 4],
    /// Redraw at every frame callback, in alternating colours.
    animate: bool,
    size: (i32, i32),
    /// Buffers committed so far.
    drawn: u32,
    /// The buffer on screen; the one before it is destroyed once replaced.
    buffer: Option<wl_buffer::WlBuffer>,
    /// Hostile: each buffer's memory is truncated to nothing once the buffer
    /// is committed, before the requests are sent, so every read of it by the
    /// compositor is past its end.
    pub truncate_pools: bool,
    /// What was seen.
    pub seen: Seen,
}

/// A connected test client.
pub struct TestClient {
    connection: Connection,
    queue: EventQueue<State>,
    /// Its state.
    pub state: State,
}

impl TestClient {
    /// Connects to the compositor as `authorization`.
    pub fn connect(compositor: &Handle, authorization: Authorization, colour: [u8; 4]) -> Self {
        let stream = compositor.connect(authorization).unwrap();
        Self::on(stream, colour)
    }

    /// Speaks Wayland on `stream`.
    pub fn on(stream: UnixStream, colour: [u8; 4]) -> Self {
        let connection = Connection::from_socket(stream).unwrap();
        let queue = connection.new_event_queue();
        let handle = queue.handle();
        connection.display().get_registry(&handle, ());
        let mut client = Self {
            connection,
            queue,
            state: State {
                compositor: None,
                shm: None,
                wm_base: None,
                manager: None,
                security: None,
                surface: None,
                colour,
                animate: false,
                size: (1, 1),
                drawn: 0,
                buffer: None,
                truncate_pools: false,
                seen: Seen::default(),
            },
        };
        client.roundtrip().unwrap();
        client
    }

    /// Waits until the compositor has handled everything sent so far.
    pub fn roundtrip(&mut self) -> Result<usize, wayland_client::DispatchError> {
        self.queue.roundtrip(&mut self.state)
    }

    /// Creates a zweft window of `role` for `app_id`.
    pub fn zweft_window(
        &mut self,
        app_id: &str,
        role: zweft_shell_manager_v1::Role,
        height: i32,
    ) -> ZweftShellWindowV1 {
        let handle = self.queue.handle();
        let surface = self.state.compositor.as_ref().unwrap().create_surface(&handle, ());
        let window = self.state.manager.as_ref().unwrap().create_window(
            app_id.to_owned(),
            format!("{app_id} window"),
            role,
            &surface,
            0,
            0,
            100,
            height,
            &handle,
            (),
        );
        self.state.surface = Some(surface);
        // Draw at the first configure (a refused window never gets one).
        self.until(|seen| !seen.configures.is_empty());
        window
    }

    /// Asks for a security context: clients accepted on `listener` speak
    /// for `app_id` until `close` hangs up.
    pub fn security_context(
        &mut self,
        listener: &std::os::unix::net::UnixListener,
        close: std::os::fd::BorrowedFd<'_>,
        app_id: &str,
    ) {
        let handle = self.queue.handle();
        let manager = self.state.security.as_ref().expect("the security context manager");
        let context = manager.create_listener(listener.as_fd(), close, &handle, ());
        context.set_sandbox_engine("org.weft.test".to_owned());
        context.set_app_id(app_id.to_owned());
        context.commit();
        self.roundtrip().unwrap();
    }

    /// Creates an xdg toplevel.
    pub fn xdg_window(&mut self) -> xdg_toplevel::XdgToplevel {
        let handle = self.queue.handle();
        let surface = self.state.compositor.as_ref().unwrap().create_surface(&handle, ());
        let xdg = self.state.wm_base.as_ref().unwrap().get_xdg_surface(&surface, &handle, ());
        let toplevel = xdg.get_toplevel(&handle, ());
        toplevel.set_app_id("claims.another.app".to_owned());
        surface.commit();
        self.state.surface = Some(surface);
        toplevel
    }

    /// Redraws at every frame callback from now on (an animated client).
    pub fn animate(&mut self) {
        self.state.animate = true;
        if let Some(surface) = self.state.surface.clone() {
            let handle = self.queue.handle();
            let size = self.state.size;
            draw(&mut self.state, &surface, size, &self.connection, &handle);
        }
    }

    /// Dispatches events until `stop` is set (run on a thread of its own).
    pub fn run_until(mut self, stop: &std::sync::atomic::AtomicBool) -> Self {
        while !stop.load(std::sync::atomic::Ordering::Relaxed) {
            if self.queue.blocking_dispatch(&mut self.state).is_err() {
                break;
            }
        }
        self
    }

    /// Dispatches, waiting for each event without sleeping, until `done` holds
    /// (or the connection fails).
    pub fn until_blocking(&mut self, mut done: impl FnMut(&Seen) -> bool) -> bool {
        while !done(&self.state.seen) {
            if self.queue.blocking_dispatch(&mut self.state).is_err() {
                return false;
            }
        }
        true
    }

    /// Dispatches until `done` holds or 10 s pass.
    pub fn until(&mut self, mut done: impl FnMut(&Seen) -> bool) -> bool {
        let deadline = Instant::now() + Duration::from_secs(10);
        while !done(&self.state.seen) {
            if Instant::now() > deadline || self.roundtrip().is_err() {
                return false;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        true
    }

    /// The protocol error that ended the connection, if one did.
    /// (The build links libwayland for winit, and libwayland keeps the message
    /// text to itself: the interface and code are what a client learns.)
    pub fn protocol_error(&mut self) -> Option<(String, u32)> {
        let _ = self.roundtrip();
        self.connection.protocol_error().map(|error| (error.object_interface, error.code))
    }
}

/// Draws `colour` at `width`×`height` on `surface`, commits and sends it.
fn draw(
    state: &mut State,
    surface: &wl_surface::WlSurface,
    (width, height): (i32, i32),
    connection: &Connection,
    handle: &QueueHandle<State>,
) {
    let (width, height) = (width.max(1), height.max(1));
    state.size = (width, height);
    if state.animate {
        state.colour[0] = state.colour[0].wrapping_add(1);
        surface.frame(handle, ());
    }
    let size = (width * height * 4) as usize;
    let memory =
        rustix::fs::memfd_create("weft-test-buffer", rustix::fs::MemfdFlags::CLOEXEC).unwrap();
    // ARGB8888 is B, G, R, A in memory.
    let [r, g, b, a] = state.colour;
    let pixels: Vec<u8> = [b, g, r, a].repeat(size / 4);
    let mut file = std::fs::File::from(memory);
    std::io::Write::write_all(&mut file, &pixels).unwrap();
    let memory = std::os::fd::OwnedFd::from(file);
    let pool = state.shm.as_ref().unwrap().create_pool(memory.as_fd(), size as i32, handle, ());
    let buffer =
        pool.create_buffer(0, width, height, width * 4, wl_shm::Format::Argb8888, handle, ());
    surface.attach(Some(&buffer), 0, 0);
    state.drawn += 1;
    if state.animate && state.drawn > 1 {
        // An animated client changes a small part, like a clock or a cursor.
        surface.damage_buffer(0, 0, width.min(64), height.min(64));
    } else {
        surface.damage_buffer(0, 0, width, height);
    }
    surface.commit();
    pool.destroy();
    if let Some(previous) = state.buffer.replace(buffer) {
        previous.destroy();
    }
    if state.truncate_pools {
        // Before the requests leave, so the compositor cannot draw the buffer
        // while its memory is still whole.
        rustix::fs::ftruncate(&memory, 0).unwrap();
    }
    let _ = connection.flush();
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
            "xdg_wm_base" => state.wm_base = Some(registry.bind(name, 1, handle, ())),
            "zweft_shell_manager_v1" => state.manager = Some(registry.bind(name, 1, handle, ())),
            "wp_security_context_manager_v1" => {
                state.security = Some(registry.bind(name, 1, handle, ()));
            }
            "wl_seat" => {
                registry.bind::<wl_seat::WlSeat, _, _>(name, 1, handle, ());
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
        connection: &Connection,
        handle: &QueueHandle<Self>,
    ) {
        match event {
            zweft_shell_window_v1::Event::Configure { x, y, width, height, states } => {
                let states = match states {
                    WEnum::Value(states) => states.bits(),
                    WEnum::Unknown(bits) => bits,
                };
                state.seen.configures.push((x, y, width, height, states));
                if let Some(surface) = state.surface.clone() {
                    draw(state, &surface, (width, height), connection, handle);
                }
            }
            zweft_shell_window_v1::Event::FocusChanged { focused } => {
                state.seen.focus.push(focused == 1);
            }
            zweft_shell_window_v1::Event::WindowClosed { reason } => state.seen.closed.push(reason),
            zweft_shell_window_v1::Event::PresentationFeedback { sequence, .. } => {
                state.seen.presented.push(sequence);
            }
            _ => {}
        }
    }
}

impl Dispatch<xdg_wm_base::XdgWmBase, ()> for State {
    fn event(
        _: &mut Self,
        wm_base: &xdg_wm_base::XdgWmBase,
        event: xdg_wm_base::Event,
        _: &(),
        _: &Connection,
        _: &QueueHandle<Self>,
    ) {
        if let xdg_wm_base::Event::Ping { serial } = event {
            wm_base.pong(serial);
        }
    }
}

impl Dispatch<xdg_surface::XdgSurface, ()> for State {
    fn event(
        state: &mut Self,
        xdg: &xdg_surface::XdgSurface,
        event: xdg_surface::Event,
        _: &(),
        connection: &Connection,
        handle: &QueueHandle<Self>,
    ) {
        if let xdg_surface::Event::Configure { serial } = event {
            xdg.ack_configure(serial);
            let size = state.seen.xdg_sizes.last().copied().unwrap_or((64, 64));
            if let Some(surface) = state.surface.clone() {
                draw(state, &surface, size, connection, handle);
            }
        }
    }
}

impl Dispatch<xdg_toplevel::XdgToplevel, ()> for State {
    fn event(
        state: &mut Self,
        _: &xdg_toplevel::XdgToplevel,
        event: xdg_toplevel::Event,
        _: &(),
        _: &Connection,
        _: &QueueHandle<Self>,
    ) {
        match event {
            xdg_toplevel::Event::Configure { width, height, states } => {
                state.seen.xdg_sizes.push((width, height));
                let activated = states
                    .chunks_exact(4)
                    .any(|state| u32::from_ne_bytes(state.try_into().unwrap()) == 4);
                if state.seen.focus.last() != Some(&activated) {
                    state.seen.focus.push(activated);
                }
            }
            xdg_toplevel::Event::Close => state.seen.xdg_close += 1,
            _ => {}
        }
    }
}

impl Dispatch<wl_seat::WlSeat, ()> for State {
    fn event(
        _: &mut Self,
        seat: &wl_seat::WlSeat,
        event: wl_seat::Event,
        _: &(),
        _: &Connection,
        handle: &QueueHandle<Self>,
    ) {
        if let wl_seat::Event::Capabilities { capabilities: WEnum::Value(capabilities) } = event {
            if capabilities.contains(wl_seat::Capability::Keyboard) {
                seat.get_keyboard(handle, ());
            }
            if capabilities.contains(wl_seat::Capability::Pointer) {
                seat.get_pointer(handle, ());
            }
            if capabilities.contains(wl_seat::Capability::Touch) {
                seat.get_touch(handle, ());
            }
        }
    }
}

impl Dispatch<wl_touch::WlTouch, ()> for State {
    fn event(
        state: &mut Self,
        _: &wl_touch::WlTouch,
        event: wl_touch::Event,
        _: &(),
        _: &Connection,
        _: &QueueHandle<Self>,
    ) {
        match event {
            wl_touch::Event::Down { x, y, .. } => state.seen.touch_downs.push((x, y)),
            wl_touch::Event::Up { .. } => state.seen.touch_ups += 1,
            _ => {}
        }
    }
}

impl Dispatch<wl_pointer::WlPointer, ()> for State {
    fn event(
        state: &mut Self,
        _: &wl_pointer::WlPointer,
        event: wl_pointer::Event,
        _: &(),
        _: &Connection,
        _: &QueueHandle<Self>,
    ) {
        match event {
            wl_pointer::Event::Enter { surface_x, surface_y, .. } => {
                state.seen.pointer_enters.push((surface_x, surface_y));
            }
            wl_pointer::Event::Leave { .. } => state.seen.pointer_leaves += 1,
            wl_pointer::Event::Button {
                button,
                state: WEnum::Value(wl_pointer::ButtonState::Pressed),
                ..
            } => state.seen.buttons.push(button),
            _ => {}
        }
    }
}

impl Dispatch<wl_keyboard::WlKeyboard, ()> for State {
    fn event(
        state: &mut Self,
        _: &wl_keyboard::WlKeyboard,
        event: wl_keyboard::Event,
        _: &(),
        _: &Connection,
        _: &QueueHandle<Self>,
    ) {
        match event {
            wl_keyboard::Event::Keymap { fd, size, .. } => {
                // The file's offset may be anywhere: read from its start.
                let mut text = vec![0; size as usize];
                let file = std::fs::File::from(fd);
                if std::os::unix::fs::FileExt::read_exact_at(&file, &mut text, 0).is_ok() {
                    state.seen.keymap = String::from_utf8_lossy(&text).into_owned();
                }
            }
            wl_keyboard::Event::Enter { .. } => state.seen.keyboard_entered = true,
            wl_keyboard::Event::Leave { .. } => state.seen.keyboard_entered = false,
            wl_keyboard::Event::Key {
                key,
                state: WEnum::Value(wl_keyboard::KeyState::Pressed),
                ..
            } => {
                state.seen.keys.push(key);
                state.seen.key_times.push(Instant::now());
            }
            _ => {}
        }
    }
}

impl Dispatch<wl_callback::WlCallback, ()> for State {
    fn event(
        state: &mut Self,
        _: &wl_callback::WlCallback,
        event: wl_callback::Event,
        _: &(),
        connection: &Connection,
        handle: &QueueHandle<Self>,
    ) {
        if let wl_callback::Event::Done { .. } = event
            && state.animate
            && let Some(surface) = state.surface.clone()
        {
            let size = state.size;
            draw(state, &surface, size, connection, handle);
        }
    }
}

/// Objects whose events the tests ignore.
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
    wl_shm::WlShm,
    wl_shm_pool::WlShmPool,
    wl_buffer::WlBuffer,
    ZweftShellManagerV1,
    WpSecurityContextManagerV1,
    WpSecurityContextV1
);

/// Waits until the compositor's last frame shows `colour` at (`x`, `y`).
pub fn wait_for_pixel(compositor: &Handle, x: u32, y: u32, colour: [u8; 4]) -> [u8; 4] {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let pixel = compositor.screenshot().unwrap().pixel(x, y);
        if pixel == colour || Instant::now() > deadline {
            return pixel;
        }
        std::thread::sleep(Duration::from_millis(16));
    }
}

/// The compositor's windows: id, app id (`None` for the panel), title.
pub fn windows(compositor: &Handle) -> Vec<(u64, Option<String>, String)> {
    compositor.ask(Command::Windows).unwrap()
}

/// A headless compositor of `width`×`height` whose session sockets go in the
/// temporary directory.
pub fn headless(width: i32, height: i32) -> Handle {
    headless_with_keymap(width, height, Default::default())
}

/// [`headless`] with a keyboard layout.
pub fn headless_with_keymap(width: i32, height: i32, keymap: Keymap) -> Handle {
    Handle::spawn(Config {
        backend: Default::default(),
        size: (width, height).into(),
        socket: None,
        runtime_dir: std::env::temp_dir(),
        keymap,
        drm_device: None,
    })
}

/// The test process's resident memory (the compositor runs in it), in KiB.
pub fn resident_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|line| line.starts_with("VmRSS:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

/// How many descriptors the test process (and so the compositor) holds.
pub fn open_descriptors() -> usize {
    std::fs::read_dir("/proc/self/fd").unwrap().count()
}
