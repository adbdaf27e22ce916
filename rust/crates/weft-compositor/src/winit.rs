//! The winit backend: the compositor in a window on an existing Wayland or X11
//! desktop (for development), drawn with GLES. Its window's size is the
//! output's, and its keyboard and pointer input drive the seat.

use smithay::backend::renderer::damage::OutputDamageTracker;
use smithay::backend::renderer::gles::GlesRenderer;
use smithay::backend::winit::{self, WinitEvent, WinitEventLoop, WinitGraphicsBackend};
use smithay::reexports::winit::dpi::PhysicalSize;
use smithay::reexports::winit::window::Window;
use smithay::utils::{Physical, Size, Transform};

use crate::backend::{BACKGROUND, Backend, Frame, Screenshot, elements};
use crate::state::Weft;

/// A window on the developer's desktop.
pub struct Winit {
    backend: WinitGraphicsBackend<GlesRenderer>,
    damage: OutputDamageTracker,
    full_redraw: bool,
}

impl Winit {
    /// Opens a window of `size` (the desktop may give it another) and returns
    /// the backend and its event source.
    pub fn new(size: Size<i32, Physical>) -> anyhow::Result<(Self, WinitEventLoop)> {
        let attributes = Window::default_attributes()
            .with_title("WEFT OS")
            .with_inner_size(PhysicalSize::new(size.w as u32, size.h as u32));
        let (backend, events) = winit::init_from_attributes::<GlesRenderer>(attributes)
            .map_err(|error| anyhow::anyhow!("cannot open a window (winit backend): {error}"))?;
        let damage = OutputDamageTracker::new(backend.window_size(), 1.0, Transform::Normal);
        Ok((Self { backend, damage, full_redraw: false }, events))
    }

    /// Follows the window's new size.
    pub fn resized(&mut self, size: Size<i32, Physical>) {
        self.damage = OutputDamageTracker::new(size, 1.0, Transform::Normal);
    }
}

impl Backend for Winit {
    fn size(&self) -> Size<i32, Physical> {
        self.backend.window_size()
    }

    fn render(&mut self, state: &Weft) -> anyhow::Result<Frame> {
        let age = if self.full_redraw { 0 } else { self.backend.buffer_age().unwrap_or(0) };
        let damage = {
            let (renderer, mut framebuffer) = self.backend.bind()?;
            let elements = elements(renderer, state);
            let result = self.damage.render_output(
                renderer,
                &mut framebuffer,
                age,
                &elements,
                BACKGROUND,
            )?;
            result.damage.cloned()
        };
        let damaged = damage.as_ref().is_some_and(|damage| !damage.is_empty());
        if damaged {
            self.backend.submit(damage.as_deref())?;
        }
        Ok(Frame { damaged })
    }

    fn screenshot(&mut self) -> anyhow::Result<Screenshot> {
        anyhow::bail!("screenshots come from the headless backend; the winit window is on screen")
    }

    fn set_full_redraw(&mut self, full: bool) {
        self.full_redraw = full;
    }
}

/// Feeds a window event to the compositor; returns false when the window was
/// closed.
pub fn handle_event(state: &mut Weft, backend: &mut Winit, event: WinitEvent) -> bool {
    match event {
        WinitEvent::Resized { size, .. } => {
            backend.resized(size);
            state.resize_output((size.w, size.h).into());
        }
        WinitEvent::Input(input) => crate::input::handle(state, input),
        WinitEvent::CloseRequested => return false,
        WinitEvent::Focus(_) | WinitEvent::Redraw => {}
    }
    true
}
