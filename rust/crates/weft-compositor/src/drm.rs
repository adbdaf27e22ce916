//! The DRM/KMS backend: the compositor owns a real display. A libseat session
//! opens the card (seatd, logind or libseat's built-in seat when run as root),
//! every connected connector gets a CRTC and two dumb buffers that pixman
//! renders into, and frames are shown with page flips. A flip's completion
//! event marks the frame submitted; until it arrives no buffer is reused and
//! [`Backend::ready`] is false, so the loop redraws on the event instead of
//! freezing (the seed never marked frames submitted). All outputs mirror the
//! first one, whose mode sets the layout's size.
//!
//! Dumb buffers need no GPU (a VM's virtio-gpu or bochs under QEMU TCG); a
//! GBM + GLES path for real GPUs is not written yet.

use std::path::{Path, PathBuf};

use anyhow::Context;
use smithay::backend::drm::DrmDeviceFd;
use smithay::backend::renderer::Bind;
use smithay::backend::renderer::damage::OutputDamageTracker;
use smithay::backend::renderer::element::surface::WaylandSurfaceRenderElement;
use smithay::backend::renderer::pixman::PixmanRenderer;
use smithay::backend::session::Session;
use smithay::backend::session::libseat::{LibSeatSession, LibSeatSessionNotifier};
use smithay::reexports::drm::buffer::{Buffer, DrmFourcc};
use smithay::reexports::drm::control::dumbbuffer::DumbBuffer;
use smithay::reexports::drm::control::{
    Device as ControlDevice, Event as DrmEvent, Mode, ModeTypeFlags, PageFlipFlags, connector,
    crtc, framebuffer,
};
use smithay::reexports::pixman::{FormatCode, Image};
use smithay::reexports::rustix::fs::{FileType, OFlags, major, stat};
use smithay::utils::{DeviceFd, Physical, Size, Transform};

use crate::backend::{BACKGROUND, Backend, Frame, Screenshot, elements};
use crate::state::Weft;

/// The character-device major number of DRM cards.
const DRM_MAJOR: u32 = 226;

/// A display driven through DRM/KMS.
pub struct Drm {
    session: LibSeatSession,
    device: DrmDeviceFd,
    path: PathBuf,
    heads: Vec<Head>,
    renderer: PixmanRenderer,
    full_redraw: bool,
    active: bool,
}

/// One connector showing the scene through its own CRTC.
struct Head {
    name: String,
    connector: connector::Handle,
    crtc: crtc::Handle,
    mode: Mode,
    scanouts: [Scanout; 2],
    /// The buffer on screen (or about to be, once a modeset is done).
    front: usize,
    /// The buffer a queued page flip will show; none is reused until it lands.
    flip_pending: Option<usize>,
    /// Frames rendered on this head, for buffer ages.
    frames: u64,
    damage: OutputDamageTracker,
    /// Whether the CRTC shows one of our buffers yet.
    modeset: bool,
}

/// A dumb buffer registered as a framebuffer.
struct Scanout {
    buffer: DumbBuffer,
    framebuffer: framebuffer::Handle,
    /// The frame number last drawn into it.
    rendered_at: Option<u64>,
}

impl Drm {
    /// Opens `device` (or the seat's primary card), lights every connected
    /// connector and returns the backend with the session's event source.
    pub fn new(device: Option<&Path>) -> anyhow::Result<(Self, LibSeatSessionNotifier)> {
        let path = match device {
            Some(path) => {
                check_drm_device(path)?;
                path.to_owned()
            }
            None => smithay::backend::udev::primary_gpu("seat0")
                .context("looking for a DRM/KMS card (udev)")?
                .ok_or_else(|| {
                    anyhow::anyhow!(
                        "no DRM/KMS card found (no /dev/dri/card*): use --backend headless or winit"
                    )
                })?,
        };
        let (mut session, notifier) = LibSeatSession::new().map_err(|error| {
            anyhow::anyhow!("cannot open a seat with libseat (seatd, logind or built-in): {error}")
        })?;
        let fd = session
            .open(&path, OFlags::RDWR | OFlags::CLOEXEC | OFlags::NOCTTY | OFlags::NONBLOCK)
            .map_err(|error| anyhow::anyhow!("cannot open {}: {error}", path.display()))?;
        let device = DrmDeviceFd::new(DeviceFd::from(fd));
        let mut drm = Self {
            session,
            device,
            path,
            heads: Vec::new(),
            renderer: PixmanRenderer::new()?,
            full_redraw: false,
            active: true,
        };
        drm.rescan()?;
        if drm.heads.is_empty() {
            anyhow::bail!("{}: no connected display", drm.path.display());
        }
        Ok((drm, notifier))
    }

    /// The card's descriptor: readable when page-flip events wait.
    pub fn device(&self) -> DrmDeviceFd {
        self.device.clone()
    }

    /// The seat session, which libinput opens input devices through.
    pub fn session(&self) -> LibSeatSession {
        self.session.clone()
    }

    /// Reads the card's events: a completed page flip puts its buffer on
    /// screen and frees the other one for the next frame.
    pub fn dispatch_events(&mut self) -> anyhow::Result<()> {
        let events = match self.device.receive_events() {
            Ok(events) => events,
            Err(error) if error.kind() == std::io::ErrorKind::WouldBlock => return Ok(()),
            Err(error) => return Err(error).context("reading DRM events"),
        };
        for event in events {
            if let DrmEvent::PageFlip(flip) = event
                && let Some(head) = self.heads.iter_mut().find(|head| head.crtc == flip.crtc)
                && let Some(shown) = head.flip_pending.take()
            {
                head.front = shown;
            }
        }
        Ok(())
    }

    /// The session was paused (another VT) or resumed. On resume every head
    /// is set up again and redrawn in full: the card may show anything.
    pub fn set_active(&mut self, active: bool) {
        self.active = active;
        for head in &mut self.heads {
            head.flip_pending = None;
            head.modeset = false;
            for scanout in &mut head.scanouts {
                scanout.rendered_at = None;
            }
        }
    }

    /// Matches heads to the connectors now connected (start and hotplug):
    /// gone ones are dropped, new ones lit. Returns the first head's size when
    /// it changed, which is the layout's new size.
    pub fn rescan(&mut self) -> anyhow::Result<Option<Size<i32, Physical>>> {
        let before = self.heads.first().map(Head::size);
        let resources = self.device.resource_handles().context("reading DRM resources")?;
        let mut connected = Vec::new();
        for &handle in resources.connectors() {
            let info = self.device.get_connector(handle, true).context("reading a connector")?;
            let modes: Vec<ModeChoice> = info.modes().iter().map(ModeChoice::of).collect();
            if info.state() != connector::State::Connected {
                continue;
            }
            let Some(mode) = pick_mode(&modes).map(|index| info.modes()[index]) else { continue };
            let crtcs: Vec<crtc::Handle> = info
                .encoders()
                .iter()
                .filter_map(|&encoder| self.device.get_encoder(encoder).ok())
                .flat_map(|encoder| resources.filter_crtcs(encoder.possible_crtcs()))
                .collect();
            let name = format!("{}-{}", info.interface().as_str(), info.interface_id());
            connected.push((handle, name, mode, crtcs));
        }

        let old = std::mem::take(&mut self.heads);
        let (kept, gone): (Vec<Head>, Vec<Head>) = old.into_iter().partition(|head| {
            connected
                .iter()
                .any(|(handle, _, mode, _)| *handle == head.connector && *mode == head.mode)
        });
        for head in gone {
            tracing::info!(output = %head.name, "display gone or changed");
            let _ = self.device.set_crtc(head.crtc, None, (0, 0), &[], None);
            self.destroy(head);
        }
        self.heads = kept;
        for (handle, name, mode, crtcs) in connected {
            if self.heads.iter().any(|head| head.connector == handle) {
                continue;
            }
            let taken: Vec<crtc::Handle> = self.heads.iter().map(|head| head.crtc).collect();
            let Some(crtc) = crtcs.into_iter().find(|crtc| !taken.contains(crtc)) else {
                tracing::warn!(output = %name, "no free CRTC; the display stays dark");
                continue;
            };
            let head = self.head(name, handle, crtc, mode)?;
            tracing::info!(output = %head.name, size = ?head.size(), "display lit");
            self.heads.push(head);
        }
        let after = self.heads.first().map(Head::size);
        Ok(after.filter(|size| Some(*size) != before))
    }

    fn head(
        &self,
        name: String,
        connector: connector::Handle,
        crtc: crtc::Handle,
        mode: Mode,
    ) -> anyhow::Result<Head> {
        let (w, h) = mode.size();
        let scanout = || -> anyhow::Result<Scanout> {
            let buffer = self
                .device
                .create_dumb_buffer((w.into(), h.into()), DrmFourcc::Xrgb8888, 32)
                .with_context(|| format!("{name}: creating a {w}x{h} dumb buffer"))?;
            let framebuffer = self
                .device
                .add_framebuffer(&buffer, 24, 32)
                .with_context(|| format!("{name}: adding a framebuffer"))?;
            Ok(Scanout { buffer, framebuffer, rendered_at: None })
        };
        let scanouts = [scanout()?, scanout()?];
        let size = Size::from((i32::from(w), i32::from(h)));
        Ok(Head {
            name,
            connector,
            crtc,
            mode,
            scanouts,
            front: 0,
            flip_pending: None,
            frames: 0,
            damage: OutputDamageTracker::new(size, 1.0, Transform::Normal),
            modeset: false,
        })
    }

    fn destroy(&self, head: Head) {
        for scanout in head.scanouts {
            let _ = self.device.destroy_framebuffer(scanout.framebuffer);
            let _ = self.device.destroy_dumb_buffer(scanout.buffer);
        }
    }

    /// Draws the scene into the head's free buffer and shows it.
    fn render_head(
        device: &DrmDeviceFd,
        renderer: &mut PixmanRenderer,
        head: &mut Head,
        elements: &[WaylandSurfaceRenderElement<PixmanRenderer>],
        full_redraw: bool,
    ) -> anyhow::Result<bool> {
        let back = 1 - head.front;
        let frame = head.frames + 1;
        let scanout = &mut head.scanouts[back];
        let age = match scanout.rendered_at {
            Some(at) if !full_redraw && head.modeset => (frame - at) as usize,
            _ => 0,
        };
        let (w, h) = scanout.buffer.size();
        let pitch = scanout.buffer.pitch() as usize;
        let mut mapping =
            device.map_dumb_buffer(&mut scanout.buffer).context("mapping a buffer")?;
        let damaged = {
            #[expect(unsafe_code, reason = "pixman draws into the mapped buffer in place")]
            // SAFETY: the image points into `mapping`, which outlives it (the
            // image and its render target are dropped at the end of this block).
            let mut image = unsafe {
                Image::from_raw_mut(
                    FormatCode::X8R8G8B8,
                    w as usize,
                    h as usize,
                    mapping.as_mut_ptr().cast::<u32>(),
                    pitch,
                    false,
                )
            }
            .map_err(|_| anyhow::anyhow!("cannot wrap a {w}x{h} buffer for pixman"))?;
            let mut target = renderer.bind(&mut image)?;
            let result =
                head.damage.render_output(renderer, &mut target, age, elements, BACKGROUND)?;
            result.damage.is_some_and(|damage| !damage.is_empty())
        };
        drop(mapping);
        if !damaged && head.modeset {
            return Ok(false);
        }
        head.frames = frame;
        head.scanouts[back].rendered_at = Some(frame);
        let framebuffer = head.scanouts[back].framebuffer;
        if head.modeset {
            device
                .page_flip(head.crtc, framebuffer, PageFlipFlags::EVENT, None)
                .with_context(|| format!("{}: queueing a page flip", head.name))?;
            head.flip_pending = Some(back);
        } else {
            device
                .set_crtc(head.crtc, Some(framebuffer), (0, 0), &[head.connector], Some(head.mode))
                .with_context(|| format!("{}: setting the mode", head.name))?;
            head.front = back;
            head.modeset = true;
        }
        Ok(true)
    }
}

impl Head {
    fn size(&self) -> Size<i32, Physical> {
        let (w, h) = self.mode.size();
        (i32::from(w), i32::from(h)).into()
    }
}

impl Drop for Drm {
    fn drop(&mut self) {
        for head in std::mem::take(&mut self.heads) {
            self.destroy(head);
        }
    }
}

impl Backend for Drm {
    fn size(&self) -> Size<i32, Physical> {
        self.heads.first().map_or_else(|| (1, 1).into(), Head::size)
    }

    fn ready(&self) -> bool {
        self.active && self.heads.iter().all(|head| head.flip_pending.is_none())
    }

    fn render(&mut self, state: &Weft) -> anyhow::Result<Frame> {
        let elements = elements(&mut self.renderer, state);
        let mut damaged = false;
        for head in &mut self.heads {
            damaged |= Self::render_head(
                &self.device,
                &mut self.renderer,
                head,
                &elements,
                self.full_redraw,
            )?;
        }
        Ok(Frame { damaged })
    }

    fn screenshot(&mut self) -> anyhow::Result<Screenshot> {
        let head = self.heads.first_mut().context("no display")?;
        let scanout = &mut head.scanouts[head.front];
        let (width, height) = scanout.buffer.size();
        let pitch = scanout.buffer.pitch() as usize;
        let mapping = self.device.map_dumb_buffer(&mut scanout.buffer)?;
        Ok(xrgb_to_screenshot(&mapping, width, height, pitch))
    }

    fn set_full_redraw(&mut self, full: bool) {
        self.full_redraw = full;
    }
}

/// Refuses a path that is not a DRM character device before any seat or
/// device is opened.
fn check_drm_device(path: &Path) -> anyhow::Result<()> {
    let stat =
        stat(path).map_err(|error| anyhow::anyhow!("DRM device {}: {error}", path.display()))?;
    let is_char = FileType::from_raw_mode(stat.st_mode) == FileType::CharacterDevice;
    if !is_char || major(stat.st_rdev) != DRM_MAJOR {
        anyhow::bail!("{} is not a DRM device (want a /dev/dri/card* node)", path.display());
    }
    Ok(())
}

/// What choosing a mode needs to know about it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ModeChoice {
    /// Width and height in pixels.
    pub size: (u16, u16),
    /// Refresh rate in Hz.
    pub refresh: u32,
    /// Whether the display says this is its native mode.
    pub preferred: bool,
}

impl ModeChoice {
    fn of(mode: &Mode) -> Self {
        Self {
            size: mode.size(),
            refresh: mode.vrefresh(),
            preferred: mode.mode_type().contains(ModeTypeFlags::PREFERRED),
        }
    }
}

/// The mode to light a display with: the one it prefers, else the largest
/// (and then fastest). None for a display without modes.
pub fn pick_mode(modes: &[ModeChoice]) -> Option<usize> {
    let key = |mode: &ModeChoice| {
        (mode.preferred, u32::from(mode.size.0) * u32::from(mode.size.1), mode.refresh)
    };
    (0..modes.len()).max_by(|&a, &b| key(&modes[a]).cmp(&key(&modes[b])).then(b.cmp(&a)))
}

/// Turns an XRGB8888 buffer (little-endian B, G, R, X bytes, `pitch` bytes a
/// row) into an opaque RGBA screenshot.
pub fn xrgb_to_screenshot(bytes: &[u8], width: u32, height: u32, pitch: usize) -> Screenshot {
    let mut rgba = Vec::with_capacity(width as usize * height as usize * 4);
    for row in bytes.chunks(pitch).take(height as usize) {
        for pixel in row[..width as usize * 4].chunks_exact(4) {
            rgba.extend_from_slice(&[pixel[2], pixel[1], pixel[0], 0xff]);
        }
    }
    Screenshot { width, height, rgba, drawn_at: None }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mode(w: u16, h: u16, refresh: u32, preferred: bool) -> ModeChoice {
        ModeChoice { size: (w, h), refresh, preferred }
    }

    #[test]
    fn the_preferred_mode_wins_over_larger_ones() {
        let modes =
            [mode(5120, 2160, 60, false), mode(1280, 800, 60, true), mode(800, 600, 75, false)];
        assert_eq!(pick_mode(&modes), Some(1));
    }

    #[test]
    fn without_a_preferred_mode_the_largest_then_fastest_wins() {
        let modes =
            [mode(1024, 768, 60, false), mode(1920, 1080, 50, false), mode(1920, 1080, 60, false)];
        assert_eq!(pick_mode(&modes), Some(2));
        // Equal modes: the first listed.
        let same = [mode(800, 600, 60, false), mode(800, 600, 60, false)];
        assert_eq!(pick_mode(&same), Some(0));
        assert_eq!(pick_mode(&[]), None);
    }

    #[test]
    fn xrgb_rows_with_padding_become_rgba() {
        // 2x2 pixels, pitch 12 (4 bytes of padding a row).
        let bytes = [
            0x30, 0x20, 0x10, 0x00, 0x01, 0x02, 0x03, 0x99, 0xee, 0xee, 0xee, 0xee, //
            0xff, 0x00, 0x00, 0x00, 0x00, 0xff, 0x00, 0x00, 0xee, 0xee, 0xee, 0xee,
        ];
        let shot = xrgb_to_screenshot(&bytes, 2, 2, 12);
        assert_eq!(shot.pixel(0, 0), [0x10, 0x20, 0x30, 0xff]);
        assert_eq!(shot.pixel(1, 0), [0x03, 0x02, 0x01, 0xff]);
        assert_eq!(shot.pixel(0, 1), [0x00, 0x00, 0xff, 0xff]);
        assert_eq!(shot.pixel(1, 1), [0x00, 0xff, 0x00, 0xff]);
    }
}
