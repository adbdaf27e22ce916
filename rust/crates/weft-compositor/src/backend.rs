//! Backends draw the shell's visible windows onto an output. The headless
//! backend renders into memory with pixman (tests, the demo, screenshots);
//! hardware backends (DRM/KMS, winit) implement the same trait.

use std::time::Instant;

use smithay::backend::allocator::Fourcc;
use smithay::backend::renderer::damage::OutputDamageTracker;
use smithay::backend::renderer::element::Kind;
use smithay::backend::renderer::element::surface::{
    WaylandSurfaceRenderElement, render_elements_from_surface_tree,
};
use smithay::backend::renderer::pixman::PixmanRenderer;
use smithay::backend::renderer::{Bind, ExportMem, ImportAll, Offscreen, Renderer, Texture};
use smithay::reexports::pixman::Image;
use smithay::utils::{Physical, Rectangle, Size, Transform};

use crate::state::Weft;

/// The colour behind every window: WEFT's dark slate (sRGB 0x1c2430).
pub const BACKGROUND: [f32; 4] = [28.0 / 255.0, 36.0 / 255.0, 48.0 / 255.0, 1.0];

/// What drawing a frame did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Frame {
    /// Whether any pixel changed.
    pub damaged: bool,
}

/// A screen the compositor draws on.
pub trait Backend {
    /// The output's size in pixels.
    fn size(&self) -> Size<i32, Physical>;

    /// Whether a frame can be drawn now: false while the last one is still
    /// queued for the display or the session is paused.
    fn ready(&self) -> bool {
        true
    }

    /// Draws the visible windows.
    fn render(&mut self, state: &Weft) -> anyhow::Result<Frame>;

    /// Reads the last frame back.
    fn screenshot(&mut self) -> anyhow::Result<Screenshot>;

    /// Redraw everything every frame (true) or only what changed (false).
    fn set_full_redraw(&mut self, full: bool);
}

/// An RGBA image of the output.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Screenshot {
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// Rows top to bottom, 4 bytes per pixel (R, G, B, A).
    pub rgba: Vec<u8>,
    /// When the compositor finished drawing the frame this shows (set by
    /// its loop; `None` before the first frame or outside the loop).
    pub drawn_at: Option<Instant>,
}

impl Screenshot {
    /// The pixel at (`x`, `y`).
    pub fn pixel(&self, x: u32, y: u32) -> [u8; 4] {
        let at = ((y * self.width + x) * 4) as usize;
        self.rgba[at..at + 4].try_into().expect("four bytes")
    }

    /// Encodes the image as PNG.
    pub fn to_png(&self) -> anyhow::Result<Vec<u8>> {
        let mut png = Vec::new();
        let mut encoder = png::Encoder::new(&mut png, self.width, self.height);
        encoder.set_color(png::ColorType::Rgba);
        encoder.set_depth(png::BitDepth::Eight);
        encoder.write_header()?.write_image_data(&self.rgba)?;
        Ok(png)
    }
}

/// Renders into memory with pixman.
pub struct Headless {
    renderer: PixmanRenderer,
    buffer: Image<'static, 'static>,
    damage: OutputDamageTracker,
    size: Size<i32, Physical>,
    full_redraw: bool,
}

impl Headless {
    /// A headless output of `size` pixels.
    pub fn new(size: Size<i32, Physical>) -> anyhow::Result<Self> {
        let mut renderer = PixmanRenderer::new()?;
        let buffer = renderer.create_buffer(Fourcc::Argb8888, (size.w, size.h).into())?;
        Ok(Self {
            renderer,
            buffer,
            damage: OutputDamageTracker::new(size, 1.0, Transform::Normal),
            size,
            full_redraw: false,
        })
    }
}

/// The render elements of the visible windows, topmost first.
pub(crate) fn elements<R>(renderer: &mut R, state: &Weft) -> Vec<WaylandSurfaceRenderElement<R>>
where
    R: Renderer + ImportAll,
    R::TextureId: Texture + Clone + 'static,
{
    let mut elements = Vec::new();
    for id in state.layout.visible().into_iter().rev() {
        let (Some(window), Some(origin)) = (state.windows.get(&id), state.surface_origin(id))
        else {
            continue;
        };
        let location = origin.to_physical(1);
        elements.extend(render_elements_from_surface_tree::<_, WaylandSurfaceRenderElement<_>>(
            renderer,
            &window.surface,
            location,
            1.0,
            1.0,
            Kind::Unspecified,
        ));
    }
    elements
}

impl Backend for Headless {
    fn size(&self) -> Size<i32, Physical> {
        self.size
    }

    fn render(&mut self, state: &Weft) -> anyhow::Result<Frame> {
        let elements = elements(&mut self.renderer, state);
        let mut framebuffer = self.renderer.bind(&mut self.buffer)?;
        // Age 1: the buffer holds the previous frame; 0 redraws everything.
        let age = usize::from(!self.full_redraw);
        let result = self.damage.render_output(
            &mut self.renderer,
            &mut framebuffer,
            age,
            &elements,
            BACKGROUND,
        )?;
        Ok(Frame { damaged: result.damage.is_some_and(|damage| !damage.is_empty()) })
    }

    fn screenshot(&mut self) -> anyhow::Result<Screenshot> {
        let framebuffer = self.renderer.bind(&mut self.buffer)?;
        let region = Rectangle::from_size((self.size.w, self.size.h).into());
        let mapping = self.renderer.copy_framebuffer(&framebuffer, region, Fourcc::Abgr8888)?;
        let rgba = self.renderer.map_texture(&mapping)?.to_vec();
        Ok(Screenshot {
            width: self.size.w as u32,
            height: self.size.h as u32,
            rgba,
            drawn_at: None,
        })
    }

    fn set_full_redraw(&mut self, full: bool) {
        self.full_redraw = full;
    }
}
