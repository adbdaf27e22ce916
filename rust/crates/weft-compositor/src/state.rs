//! The compositor's state: smithay's protocol states, the shell's windows and
//! the handlers that tie them together.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use smithay::desktop::utils::{
    OutputPresentationFeedback, take_presentation_feedback_surface_tree,
};
use smithay::input::keyboard::XkbConfig;
use smithay::input::{Seat, SeatState};
use smithay::output::{Mode, Output, PhysicalProperties, Subpixel};
use smithay::reexports::wayland_protocols::wp::presentation_time::server::wp_presentation_feedback;
use smithay::reexports::wayland_server::protocol::wl_shm;
use smithay::reexports::wayland_server::protocol::wl_surface::WlSurface;
use smithay::reexports::wayland_server::{Client, DisplayHandle, Resource};
use smithay::utils::{Clock, Monotonic};
use smithay::utils::{Logical, Point, Rectangle, SERIAL_COUNTER, Size, Transform};
use smithay::wayland::compositor::{self, CompositorState};
use smithay::wayland::output::{OutputHandler, OutputManagerState};
use smithay::wayland::presentation::{PresentationState, Refresh};
use smithay::wayland::security_context::{
    SecurityContext, SecurityContextListenerSource, SecurityContextState,
};
use smithay::wayland::selection::data_device::DataDeviceState;
use smithay::wayland::shell::xdg::SurfaceCachedState;
use smithay::wayland::shell::xdg::decoration::XdgDecorationState;
use smithay::wayland::shell::xdg::{ToplevelSurface, XdgShellState, XdgToplevelSurfaceData};
use smithay::wayland::shm::ShmState;
use smithay::wayland::viewporter::ViewporterState;
use smithay::{delegate_output, delegate_presentation};

use crate::limits::{ClientState, Limits};

mod screened;
mod seat;
mod security_context;
mod surfaces;
mod xdg;
use crate::shell::{Layout, Role, WindowId};
use weft_protocol::zweft::server::zweft_shell_window_v1::{self, ZweftShellWindowV1};

/// What a connection may do: which app it speaks for, and whether it is the
/// system UI (the only one allowed the panel).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Authorization {
    /// The app id its windows belong to.
    pub app_id: String,
    /// Whether it may create the panel.
    pub system_ui: bool,
    /// The weft-appd session it belongs to, when it came through a session's
    /// socket.
    pub session: Option<u64>,
}

impl Authorization {
    /// The system UI's connection.
    pub fn system_ui() -> Self {
        Self { app_id: "org.weft.system".to_owned(), system_ui: true, session: None }
    }

    /// An app's connection.
    pub fn app(app_id: impl Into<String>) -> Self {
        Self { app_id: app_id.into(), system_ui: false, session: None }
    }

    /// A connection to a session's socket, for that session's app.
    pub fn session(app_id: impl Into<String>, session: u64) -> Self {
        Self { session: Some(session), ..Self::app(app_id) }
    }
}

/// The keyboard layout (xkb names; empty fields take xkbcommon's defaults and
/// its `XKB_DEFAULT_*` variables).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Keymap {
    /// Layouts, comma-separated (`us`, `de,fr`).
    pub layout: String,
    /// Variants, one per layout.
    pub variant: String,
    /// Options (`grp:alt_shift_toggle`).
    pub options: Option<String>,
}

/// What a touch point does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TouchPhase {
    /// It touches the screen.
    Down,
    /// It moves.
    Motion,
    /// It leaves the screen.
    Up,
}

/// How a window was made.
#[derive(Debug)]
pub enum WindowKind {
    /// A standard xdg-shell toplevel (any toolkit).
    Xdg(ToplevelSurface),
    /// A zweft-shell window.
    Zweft(ZweftShellWindowV1),
}

/// One window of the shell.
#[derive(Debug)]
pub struct ShellWindow {
    /// Panel or application.
    pub role: Role,
    /// The weft-appd session its connection belongs to.
    pub session: Option<u64>,
    /// Its title.
    pub title: String,
    /// Its surface.
    pub surface: WlSurface,
    /// How it was made.
    pub kind: WindowKind,
    /// The geometry last sent in a configure (zweft) and its focus.
    configured: Option<(Rectangle<i32, Logical>, bool)>,
    /// New content committed since the last presented frame.
    pub(crate) damaged: bool,
    /// Whether the surface has shown a buffer yet; only mapped windows get
    /// keyboard focus (some clients crash on focus before their first frame).
    mapped: bool,
}

/// Something a controller (weft-appd, a test) wants to know.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ShellEvent {
    /// A window appeared.
    WindowOpened {
        /// The window.
        window: WindowId,
        /// Its role.
        role: Role,
        /// The session its connection belongs to.
        session: Option<u64>,
    },
    /// A window went away.
    WindowClosed {
        /// The window.
        window: WindowId,
        /// The app it belonged to (the panel's is the system UI's).
        app_id: String,
        /// The session its connection belonged to.
        session: Option<u64>,
    },
}

/// The whole compositor state, shared by every protocol handler.
pub struct Weft {
    /// The display's handle.
    pub display: DisplayHandle,
    /// wl_compositor and wl_subcompositor.
    pub compositor_state: CompositorState,
    /// xdg_wm_base.
    pub xdg_shell_state: XdgShellState,
    /// wl_shm.
    pub shm_state: ShmState,
    /// wl_seat.
    pub seat_state: SeatState<Weft>,
    /// wl_data_device_manager.
    pub data_device_state: DataDeviceState,
    /// wl_output and xdg_output.
    pub output_manager_state: OutputManagerState,
    /// zxdg_decoration_manager_v1: every window is told decorations are the
    /// server's (the shell draws none; the panel is the chrome).
    pub decoration_state: XdgDecorationState,
    /// wp_viewporter.
    pub viewporter_state: ViewporterState,
    /// wp_presentation.
    pub presentation_state: PresentationState,
    /// The clock presentation times come from.
    clock: Clock<Monotonic>,
    /// The one seat.
    pub seat: Seat<Weft>,
    /// The one output.
    pub output: Output,
    /// Panel and application placement.
    pub layout: Layout,
    /// Every window.
    pub windows: BTreeMap<WindowId, ShellWindow>,
    next_window: WindowId,
    /// Frames rendered so far.
    pub frames: u32,
    /// When the compositor started (frame callback times count from here).
    pub started: Instant,
    /// Events for the controller, oldest first.
    pub events: Vec<ShellEvent>,
    /// wp_security_context_manager_v1, offered to the system UI only.
    pub security_context_state: SecurityContextState,
    /// Security contexts created since the loop last looked: each becomes a
    /// listening socket whose clients speak for the context's app id.
    pub new_contexts: Vec<(SecurityContextListenerSource, SecurityContext)>,
    /// Every client's limits (`crate::limits`).
    pub limits: Limits,
}

impl Weft {
    /// A compositor with one output of `size` and one seat (keyboard with
    /// `keymap`, pointer, touch).
    pub fn new(
        display: DisplayHandle,
        size: Size<i32, Logical>,
        keymap: &Keymap,
    ) -> anyhow::Result<Self> {
        let compositor_state = CompositorState::new::<Self>(&display);
        let xdg_shell_state = XdgShellState::new::<Self>(&display);
        // Besides ARGB8888 and XRGB8888: R, G, B, A in memory, the order the
        // web shells' engine reads its frames back in, so they need no swizzle.
        let shm_state = ShmState::new::<Self>(&display, [wl_shm::Format::Abgr8888]);
        let mut seat_state = SeatState::new();
        let data_device_state = DataDeviceState::new::<Self>(&display);
        let output_manager_state = OutputManagerState::new_with_xdg_output::<Self>(&display);
        let decoration_state = XdgDecorationState::new::<Self>(&display);
        let viewporter_state = ViewporterState::new::<Self>(&display);
        let clock = Clock::<Monotonic>::new();
        let presentation_state = PresentationState::new::<Self>(&display, clock.id() as u32);
        let mut seat = seat_state.new_wl_seat(&display, "seat0");
        let xkb = XkbConfig {
            layout: &keymap.layout,
            variant: &keymap.variant,
            options: keymap.options.clone(),
            ..XkbConfig::default()
        };
        seat.add_keyboard(xkb, 200, 25).map_err(|error| {
            anyhow::anyhow!(
                "cannot build the keymap {keymap:?}: {error:?} (see /usr/share/X11/xkb)"
            )
        })?;
        seat.add_pointer();
        seat.add_touch();
        let output = Output::new(
            "HEADLESS-1".to_owned(),
            PhysicalProperties {
                size: (0, 0).into(),
                subpixel: Subpixel::Unknown,
                make: "WEFT".to_owned(),
                model: "headless".to_owned(),
            },
        );
        let mode = Mode { size: (size.w, size.h).into(), refresh: 60_000 };
        output.change_current_state(Some(mode), Some(Transform::Normal), None, Some((0, 0).into()));
        output.set_preferred(mode);
        output.create_global::<Self>(&display);
        crate::zweft::create_global(&display);
        // Only the system UI may hand out app connections; a client of a
        // context (always an app) never sees the global.
        let security_context_state = SecurityContextState::new::<Self, _>(&display, |client| {
            client.get_data::<ClientState>().is_some_and(|data| data.authorization.system_ui)
        });
        Ok(Self {
            display,
            compositor_state,
            xdg_shell_state,
            shm_state,
            seat_state,
            data_device_state,
            output_manager_state,
            decoration_state,
            viewporter_state,
            presentation_state,
            clock,
            seat,
            output,
            layout: Layout::new(size),
            windows: BTreeMap::new(),
            next_window: 1,
            frames: 0,
            started: Instant::now(),
            events: Vec::new(),
            security_context_state,
            new_contexts: Vec::new(),
            limits: Limits::default(),
        })
    }

    /// Adds a window and lays everything out again.
    pub(crate) fn add_window(
        &mut self,
        role: Role,
        title: String,
        surface: WlSurface,
        kind: WindowKind,
        panel_thickness: i32,
    ) -> Option<WindowId> {
        let id = self.next_window;
        match &role {
            Role::Panel => {
                if !self.layout.add_panel(id, panel_thickness) {
                    return None;
                }
            }
            Role::Application { .. } => self.layout.add_application(id),
        }
        self.next_window += 1;
        let session = self.authorization_of(surface.client()).and_then(|a| a.session);
        self.events.push(ShellEvent::WindowOpened { window: id, role: role.clone(), session });
        self.windows.insert(
            id,
            ShellWindow {
                role,
                session,
                title,
                surface,
                kind,
                configured: None,
                damaged: false,
                mapped: false,
            },
        );
        self.relayout();
        Some(id)
    }

    /// Removes a window (its client destroyed it or went away).
    pub(crate) fn remove_window(&mut self, id: WindowId) {
        if let Some(window) = self.windows.remove(&id) {
            self.layout.remove(id);
            let app_id = match window.role {
                Role::Panel => Authorization::system_ui().app_id,
                Role::Application { app_id } => app_id,
            };
            self.events.push(ShellEvent::WindowClosed {
                window: id,
                app_id,
                session: window.session,
            });
            self.relayout();
        }
    }

    /// Closes a window on the compositor's side: `window_closed` for zweft
    /// windows, `close` for xdg toplevels.
    pub fn close_window(&mut self, id: WindowId, reason: &str) {
        let Some(window) = self.windows.get(&id) else { return };
        match &window.kind {
            WindowKind::Zweft(resource) => {
                resource.window_closed(reason.to_owned());
                self.remove_window(id);
            }
            WindowKind::Xdg(toplevel) => toplevel.send_close(),
        }
    }

    /// Closes every window of `app_id` (its session ended).
    pub fn close_app(&mut self, app_id: &str, reason: &str) {
        self.close_where(
            reason,
            |window| matches!(&window.role, Role::Application { app_id: a } if a == app_id),
        );
    }

    /// Closes every window of a weft-appd session.
    pub fn close_session(&mut self, session: u64, reason: &str) {
        self.close_where(reason, |window| window.session == Some(session));
    }

    fn close_where(&mut self, reason: &str, which: impl Fn(&ShellWindow) -> bool) {
        let ids: Vec<WindowId> =
            self.windows.iter().filter(|(_, window)| which(window)).map(|(&id, _)| id).collect();
        for id in ids {
            self.close_window(id, reason);
        }
    }

    /// The window whose surface is `surface`.
    pub fn window_of(&self, surface: &WlSurface) -> Option<WindowId> {
        self.windows.iter().find(|(_, window)| &window.surface == surface).map(|(&id, _)| id)
    }

    /// The output has a new size: its mode changes and every window is laid
    /// out again.
    pub fn resize_output(&mut self, size: Size<i32, Logical>) {
        let mode = Mode { size: (size.w, size.h).into(), refresh: 60_000 };
        self.output.change_current_state(Some(mode), None, None, None);
        self.output.set_preferred(mode);
        self.layout.set_output_size(size);
        self.relayout();
    }

    /// Focuses the application window `id`.
    pub fn focus(&mut self, id: WindowId) {
        if self.layout.focus(id) {
            self.relayout();
        }
    }

    /// Focuses the application window of `session`; false if it has none.
    pub fn focus_session(&mut self, session: u64) -> bool {
        let window = self
            .windows
            .iter()
            .find(|(_, window)| window.session == Some(session) && window.role != Role::Panel)
            .map(|(&id, _)| id);
        window.inspect(|&id| self.focus(id)).is_some()
    }

    /// Where a visible window's surface starts (its visible part sits at its
    /// layout geometry: an xdg window's may start inside its surface, after
    /// client-side shadows).
    pub fn surface_origin(&self, id: WindowId) -> Option<Point<i32, Logical>> {
        let window = self.windows.get(&id)?;
        let geometry = self.layout.geometry(id)?;
        let offset = match &window.kind {
            WindowKind::Xdg(_) => compositor::with_states(&window.surface, |states| {
                states.cached_state.get::<SurfaceCachedState>().current().geometry
            })
            .map_or_else(Point::default, |inner| inner.loc),
            WindowKind::Zweft(_) => Point::default(),
        };
        Some(geometry.loc - offset)
    }

    /// Sends every window its place and focus, and moves keyboard focus to the
    /// focused application window.
    pub fn relayout(&mut self) {
        let focused = self.layout.focused();
        for (&id, window) in &mut self.windows {
            // A hidden window keeps its last geometry and loses the focus.
            let Some(geometry) = self
                .layout
                .geometry(id)
                .or_else(|| window.configured.map(|(geometry, _)| geometry))
            else {
                continue;
            };
            let activated = focused == Some(id);
            if window.configured == Some((geometry, activated)) {
                continue;
            }
            let was_activated = window.configured.is_some_and(|(_, activated)| activated);
            window.configured = Some((geometry, activated));
            match &window.kind {
                WindowKind::Xdg(toplevel) => {
                    toplevel.with_pending_state(|state| {
                        state.size = Some(geometry.size);
                        use smithay::reexports::wayland_protocols::xdg::shell::server::xdg_toplevel::State;
                        state.states.set(State::Maximized);
                        if activated {
                            state.states.set(State::Activated);
                        } else {
                            state.states.unset(State::Activated);
                        }
                    });
                    if initial_configure_sent(toplevel) {
                        toplevel.send_pending_configure();
                    }
                }
                WindowKind::Zweft(resource) => {
                    let mut states = zweft_shell_window_v1::State::empty();
                    if window.role != Role::Panel {
                        states |= zweft_shell_window_v1::State::Maximized;
                    }
                    if activated {
                        states |= zweft_shell_window_v1::State::Activated;
                    }
                    resource.configure(
                        geometry.loc.x,
                        geometry.loc.y,
                        geometry.size.w,
                        geometry.size.h,
                        states,
                    );
                    if activated != was_activated {
                        resource.focus_changed(u32::from(activated));
                    }
                }
            }
        }
        let target = focused
            .and_then(|id| self.windows.get(&id))
            .filter(|window| window.mapped)
            .map(|window| window.surface.clone());
        if let Some(keyboard) = self.seat.get_keyboard()
            && keyboard.current_focus() != target
        {
            keyboard.set_focus(self, target, SERIAL_COUNTER.next_serial());
        }
    }

    /// Sends frame callbacks to the visible windows and, when the frame showed
    /// new content, presentation feedback (wp_presentation, and zweft's own).
    pub fn frame_done(&mut self, presented: bool) {
        let now = self.clock.now();
        self.frames = self.frames.wrapping_add(1);
        let mut feedback = OutputPresentationFeedback::new(&self.output);
        for id in self.layout.visible() {
            let Some(window) = self.windows.get_mut(&id) else { continue };
            smithay::desktop::utils::send_frames_surface_tree(
                &window.surface,
                &self.output,
                self.started.elapsed(),
                Some(Duration::ZERO),
                |_, _| None,
            );
            if !presented {
                continue;
            }
            let output = self.output.clone();
            take_presentation_feedback_surface_tree(
                &window.surface,
                &mut feedback,
                |_, _| Some(output.clone()),
                |_, _| wp_presentation_feedback::Kind::empty(),
            );
            if std::mem::take(&mut window.damaged)
                && let WindowKind::Zweft(resource) = &window.kind
            {
                let at = Duration::from(now);
                resource.presentation_feedback(
                    at.as_secs() as u32,
                    at.subsec_nanos(),
                    REFRESH.as_nanos() as u32,
                    self.frames,
                );
            }
        }
        if presented {
            feedback.presented(
                now,
                Refresh::Fixed(REFRESH),
                u64::from(self.frames),
                wp_presentation_feedback::Kind::empty(),
            );
        }
    }

    /// The authorization of the client owning `surface`.
    pub(crate) fn authorization_of(&self, client: Option<Client>) -> Option<Authorization> {
        client?.get_data::<ClientState>().map(|state| state.authorization.clone())
    }
}

/// The headless output's refresh interval (60 Hz).
const REFRESH: Duration = Duration::from_nanos(16_666_667);

/// Whether `toplevel` was sent its first configure.
fn initial_configure_sent(toplevel: &ToplevelSurface) -> bool {
    compositor::with_states(toplevel.wl_surface(), |states| {
        states
            .data_map
            .get::<XdgToplevelSurfaceData>()
            .is_some_and(|data| data.lock().expect("toplevel data").initial_configure_sent)
    })
}

/// The top of the surface tree `surface` belongs to.
fn root_of(surface: &WlSurface) -> WlSurface {
    let mut root = surface.clone();
    while let Some(parent) = compositor::get_parent(&root) {
        root = parent;
    }
    root
}

impl OutputHandler for Weft {}

delegate_output!(Weft);
delegate_presentation!(Weft);
