//! `wl_compositor`, `wl_shm` and `wp_viewporter`: surfaces, their buffers and
//! commits, and the per-client limit on surfaces (`crate::limits`). Their
//! requests reach smithay through `screened.rs`.

use smithay::backend::renderer::utils::{on_commit_buffer_handler, with_renderer_surface_state};
use smithay::delegate_viewporter;
use smithay::reexports::wayland_server::Client;
use smithay::reexports::wayland_server::protocol::wl_buffer::WlBuffer;
use smithay::reexports::wayland_server::protocol::wl_surface::WlSurface;
use smithay::wayland::buffer::BufferHandler;
use smithay::wayland::compositor::{CompositorClientState, CompositorHandler, CompositorState};
use smithay::wayland::shm::{ShmHandler, ShmState};

use crate::limits::ClientState;

use super::{Weft, WindowKind, initial_configure_sent, root_of};

impl CompositorHandler for Weft {
    fn compositor_state(&mut self) -> &mut CompositorState {
        &mut self.compositor_state
    }

    fn client_compositor_state<'a>(&self, client: &'a Client) -> &'a CompositorClientState {
        &client.get_data::<ClientState>().expect("every client has ClientState").compositor
    }

    fn new_surface(&mut self, surface: &WlSurface) {
        self.limits.count_surface(surface);
    }

    fn commit(&mut self, surface: &WlSurface) {
        on_commit_buffer_handler::<Self>(surface);
        let root = root_of(surface);
        let Some(id) = self.window_of(&root) else { return };
        let Some(window) = self.windows.get_mut(&id) else { return };
        window.damaged = true;
        if let WindowKind::Xdg(toplevel) = &window.kind
            && !initial_configure_sent(toplevel)
        {
            toplevel.send_configure();
        }
        let has_buffer =
            with_renderer_surface_state(&root, |state| state.buffer().is_some()).unwrap_or(false);
        if has_buffer && !window.mapped {
            window.mapped = true;
            self.relayout();
        }
    }
}

impl BufferHandler for Weft {
    fn buffer_destroyed(&mut self, _buffer: &WlBuffer) {}
}

impl ShmHandler for Weft {
    fn shm_state(&self) -> &ShmState {
        &self.shm_state
    }
}

delegate_viewporter!(Weft);
