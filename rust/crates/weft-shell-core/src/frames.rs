//! The shared memory a shell window's frames travel in: one wl_shm pool of
//! [`SLOTS`] frame buffers, made for a size and reused frame after frame (a
//! frame costs one copy, not a new pool, buffer and descriptor). A buffer is
//! written only while the compositor has released it. Frames go as
//! `ABGR8888` (R, G, B, A in memory, as the engine reads them back) when the
//! compositor offers it, else swizzled to the `ARGB8888` every compositor has.

use std::fs::File;
use std::io::{IoSlice, Seek as _, SeekFrom, Write as _};
use std::ops::Range;
use std::os::fd::AsFd as _;
use std::os::unix::fs::FileExt as _;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use wayland_client::protocol::{wl_buffer, wl_shm, wl_shm_pool};
use wayland_client::{Dispatch, QueueHandle};

/// How a frame's rows lie in memory.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RowOrder {
    /// The top row first (the screen's order).
    TopDown,
    /// The bottom row first, as OpenGL reads a framebuffer back; the rows are
    /// put in the screen's order while they are copied into the buffer.
    BottomUp,
}

/// Rows written with one system call at most (the kernel's `IOV_MAX`).
const ROWS_PER_WRITE: usize = 1024;

/// Buffers in a pool: one the compositor shows, one being written, and one
/// spare for a compositor that releases late.
pub const SLOTS: usize = 3;

/// A buffer's state, shared with its release events.
#[derive(Debug, Default)]
pub struct BufferState {
    /// The compositor released it: it may be written.
    free: AtomicBool,
    /// Its pool was replaced: destroy it once released.
    retired: AtomicBool,
}

/// One frame buffer of the pool.
struct Slot {
    buffer: wl_buffer::WlBuffer,
    state: Arc<BufferState>,
    offset: u64,
}

/// The frame buffers for one size.
pub struct Frames {
    size: (i32, i32),
    format: wl_shm::Format,
    memory: File,
    slots: Vec<Slot>,
    /// A frame reordered for `ARGB8888`, kept between frames.
    swizzled: Vec<u8>,
}

impl Frames {
    /// A pool of [`SLOTS`] `width`×`height` buffers in `format`.
    pub fn new<D>(
        shm: &wl_shm::WlShm,
        (width, height): (i32, i32),
        format: wl_shm::Format,
        handle: &QueueHandle<D>,
    ) -> std::io::Result<Self>
    where
        D: Dispatch<wl_shm_pool::WlShmPool, ()>
            + Dispatch<wl_buffer::WlBuffer, Arc<BufferState>>
            + 'static,
    {
        let frame = frame_bytes(width, height);
        let total = i32::try_from(frame * SLOTS)
            .map_err(|_| std::io::Error::other(format!("a {width}x{height} frame is too large")))?;
        let memory = rustix::fs::memfd_create("weft-shell-frames", rustix::fs::MemfdFlags::CLOEXEC)
            .map_err(std::io::Error::from)?;
        let memory = File::from(memory);
        memory.set_len(total as u64)?;
        let pool = shm.create_pool(memory.as_fd(), total, handle, ());
        let slots = (0..SLOTS)
            .map(|index| {
                let offset = index * frame;
                let state =
                    Arc::new(BufferState { free: AtomicBool::new(true), ..Default::default() });
                let buffer = pool.create_buffer(
                    offset as i32,
                    width,
                    height,
                    width * 4,
                    format,
                    handle,
                    Arc::clone(&state),
                );
                Slot { buffer, state, offset: offset as u64 }
            })
            .collect();
        // The buffers keep the memory; the pool object is no longer needed.
        pool.destroy();
        Ok(Self { size: (width, height), format, memory, slots, swizzled: Vec::new() })
    }

    /// Whether the pool holds `size` frames in `format`.
    pub fn fits(&self, size: (i32, i32), format: wl_shm::Format) -> bool {
        self.size == size && self.format == format
    }

    /// Writes `rgba` (its size's frame, R, G, B, A, its rows in `order`)
    /// into a released buffer and returns it, or `None` while the compositor
    /// holds every one.
    pub fn write(
        &mut self,
        rgba: &[u8],
        order: RowOrder,
    ) -> std::io::Result<Option<&wl_buffer::WlBuffer>> {
        let Some(slot) = self.slots.iter().find(|slot| slot.state.free.load(Ordering::Acquire))
        else {
            return Ok(None);
        };
        let bytes = if self.format == wl_shm::Format::Abgr8888 {
            rgba
        } else {
            argb8888_from_rgba(rgba, &mut self.swizzled);
            &self.swizzled
        };
        match order {
            RowOrder::TopDown => self.memory.write_all_at(bytes, slot.offset)?,
            RowOrder::BottomUp => {
                let row = self.size.0.max(0) as usize * 4;
                write_rows_reversed(&self.memory, bytes, row, slot.offset)?;
            }
        }
        slot.state.free.store(false, Ordering::Release);
        Ok(Some(&slot.buffer))
    }
}

impl Drop for Frames {
    fn drop(&mut self) {
        for slot in &self.slots {
            slot.state.retired.store(true, Ordering::Release);
            if slot.state.free.load(Ordering::Acquire) {
                slot.buffer.destroy();
            }
        }
    }
}

/// Writes `bytes`' rows of `row` bytes at `offset` of `memory`, the last row
/// first: gathered writes (`writev`, which the shells' sandbox allows), with
/// no copy of the frame in between.
fn write_rows_reversed(
    mut memory: &File,
    bytes: &[u8],
    row: usize,
    offset: u64,
) -> std::io::Result<()> {
    memory.seek(SeekFrom::Start(offset))?;
    let mut rows: Vec<IoSlice<'_>> = bytes.rchunks_exact(row).map(IoSlice::new).collect();
    for mut slices in rows.chunks_mut(ROWS_PER_WRITE) {
        while !slices.is_empty() {
            match memory.write_vectored(slices)? {
                0 => return Err(std::io::ErrorKind::WriteZero.into()),
                written => IoSlice::advance_slices(&mut slices, written),
            }
        }
    }
    Ok(())
}

/// `rgba` (R, G, B, A in memory) as `ARGB8888` (B, G, R, A in memory) in `out`.
fn argb8888_from_rgba(rgba: &[u8], out: &mut Vec<u8>) {
    out.clear();
    out.extend(rgba.chunks_exact(4).flat_map(|pixel| [pixel[2], pixel[1], pixel[0], pixel[3]]));
}

/// The bytes of one `width`×`height` frame.
pub fn frame_bytes(width: i32, height: i32) -> usize {
    width.max(0) as usize * height.max(0) as usize * 4
}

/// The rows of `current` that differ from `previous` (both frames of the
/// same size, `width` pixels a row, their rows in `order`), top-down: the
/// window's damage, so the compositor draws again only what changed. `None`
/// when nothing changed; every row when the sizes differ (no previous frame).
pub fn changed_rows(
    previous: &[u8],
    current: &[u8],
    width: i32,
    order: RowOrder,
) -> Option<Range<i32>> {
    let row = width.max(1) as usize * 4;
    let height = (current.len() / row) as i32;
    if previous.len() != current.len() {
        return Some(0..height);
    }
    let differs = |(old, new): (&[u8], &[u8])| old != new;
    let pairs = || previous.chunks_exact(row).zip(current.chunks_exact(row));
    let first = pairs().position(differs)? as i32;
    let last = height - 1 - pairs().rev().position(differs)? as i32;
    Some(match order {
        RowOrder::TopDown => first..last + 1,
        RowOrder::BottomUp => height - 1 - last..height - first,
    })
}

/// The format to send frames in, of those the compositor offers.
pub fn pick_format(offered: &[wl_shm::Format]) -> wl_shm::Format {
    if offered.contains(&wl_shm::Format::Abgr8888) {
        wl_shm::Format::Abgr8888
    } else {
        wl_shm::Format::Argb8888
    }
}

/// What a buffer's release event does: marks it free, or destroys it when
/// its pool was replaced.
pub fn released(buffer: &wl_buffer::WlBuffer, state: &BufferState) {
    if state.retired.load(Ordering::Acquire) {
        buffer.destroy();
    } else {
        state.free.store(true, Ordering::Release);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_compositor_with_abgr8888_gets_frames_as_they_are_read_back() {
        let all = [wl_shm::Format::Argb8888, wl_shm::Format::Xrgb8888, wl_shm::Format::Abgr8888];
        assert_eq!(pick_format(&all), wl_shm::Format::Abgr8888);
        assert_eq!(pick_format(&all[..2]), wl_shm::Format::Argb8888);
    }

    #[test]
    fn the_changed_rows_are_the_band_between_the_first_and_last_that_differ() {
        // Four rows of two pixels; rows 1 and 2 (top-down) change.
        let old = vec![0u8; 4 * 2 * 4];
        let mut new = old.clone();
        new[8] = 1; // row 1
        new[2 * 8 + 7] = 1; // row 2
        assert_eq!(changed_rows(&old, &new, 2, RowOrder::TopDown), Some(1..3));
        // The same bytes read bottom up are rows 2 and 1 from the top.
        assert_eq!(changed_rows(&old, &new, 2, RowOrder::BottomUp), Some(1..3));
        new[0] = 1; // the first row in memory: the top, or the bottom
        assert_eq!(changed_rows(&old, &new, 2, RowOrder::TopDown), Some(0..3));
        assert_eq!(changed_rows(&old, &new, 2, RowOrder::BottomUp), Some(1..4));
        assert_eq!(changed_rows(&old, &old, 2, RowOrder::TopDown), None);
        assert_eq!(changed_rows(&[], &new, 2, RowOrder::BottomUp), Some(0..4));
    }

    #[test]
    fn argb8888_swaps_red_and_blue_of_every_pixel() {
        let mut out = vec![9; 3];
        argb8888_from_rgba(&[1, 2, 3, 4, 5, 6, 7, 8], &mut out);
        assert_eq!(out, [3, 2, 1, 4, 7, 6, 5, 8]);
    }
}
