//! Requests smithay 0.7 would panic or assert on, screened before smithay sees
//! them. A panic in a request handler ends the whole compositor (it unwinds
//! into libwayland, which aborts), so each is refused with the protocol's
//! error or, where it describes nothing, dropped. Everything else goes to
//! smithay as its `delegate_*!` macros would send it.
//!
//! Found by the random clients of `tests/random_clients.rs`:
//! - `wl_shm_pool.resize` to 0 or less: smithay posts its error, then unwraps
//!   a zero size (a panic in every build);
//! - rectangles of negative size in `wl_surface.damage`, `wl_region.add` and
//!   `subtract`, and `xdg_positioner.set_parent_size`: smithay asserts sizes
//!   are not negative (a panic in debug builds).

use smithay::reexports::wayland_protocols::xdg::shell::server::xdg_popup::XdgPopup;
use smithay::reexports::wayland_protocols::xdg::shell::server::xdg_positioner::{
    self, XdgPositioner,
};
use smithay::reexports::wayland_protocols::xdg::shell::server::xdg_surface::XdgSurface;
use smithay::reexports::wayland_protocols::xdg::shell::server::xdg_toplevel::XdgToplevel;
use smithay::reexports::wayland_protocols::xdg::shell::server::xdg_wm_base::XdgWmBase;
use smithay::reexports::wayland_server::backend::ClientId;
use smithay::reexports::wayland_server::protocol::wl_buffer::WlBuffer;
use smithay::reexports::wayland_server::protocol::wl_callback::WlCallback;
use smithay::reexports::wayland_server::protocol::wl_compositor::WlCompositor;
use smithay::reexports::wayland_server::protocol::wl_region::{self, WlRegion};
use smithay::reexports::wayland_server::protocol::wl_shm::{self, WlShm};
use smithay::reexports::wayland_server::protocol::wl_shm_pool::{self, WlShmPool};
use smithay::reexports::wayland_server::protocol::wl_subcompositor::WlSubcompositor;
use smithay::reexports::wayland_server::protocol::wl_subsurface::WlSubsurface;
use smithay::reexports::wayland_server::protocol::wl_surface::{self, WlSurface};
use smithay::reexports::wayland_server::{
    Client, DataInit, Dispatch, DisplayHandle, Resource, delegate_dispatch,
    delegate_global_dispatch,
};
use smithay::wayland::compositor::{
    CompositorState, RegionUserData, SubsurfaceUserData, SurfaceUserData,
};
use smithay::wayland::shell::xdg::{
    XdgPositionerUserData, XdgShellState, XdgShellSurfaceUserData, XdgSurfaceUserData,
    XdgWmBaseUserData,
};
use smithay::wayland::shm::{ShmBufferUserData, ShmPoolUserData, ShmState};

use super::Weft;

/// Whether a rectangle's size is negative: it covers nothing.
fn negative(width: i32, height: i32) -> bool {
    width < 0 || height < 0
}

impl Dispatch<WlSurface, SurfaceUserData> for Weft {
    fn request(
        state: &mut Self,
        client: &Client,
        surface: &WlSurface,
        request: wl_surface::Request,
        data: &SurfaceUserData,
        display: &DisplayHandle,
        init: &mut DataInit<'_, Self>,
    ) {
        if let wl_surface::Request::Damage { width, height, .. } = request
            && negative(width, height)
        {
            return;
        }
        <CompositorState as Dispatch<WlSurface, SurfaceUserData, Self>>::request(
            state, client, surface, request, data, display, init,
        );
    }

    fn destroyed(state: &mut Self, client: ClientId, surface: &WlSurface, data: &SurfaceUserData) {
        <CompositorState as Dispatch<WlSurface, SurfaceUserData, Self>>::destroyed(
            state, client, surface, data,
        );
    }
}

impl Dispatch<WlRegion, RegionUserData> for Weft {
    fn request(
        state: &mut Self,
        client: &Client,
        region: &WlRegion,
        request: wl_region::Request,
        data: &RegionUserData,
        display: &DisplayHandle,
        init: &mut DataInit<'_, Self>,
    ) {
        if let wl_region::Request::Add { width, height, .. }
        | wl_region::Request::Subtract { width, height, .. } = request
            && negative(width, height)
        {
            return;
        }
        <CompositorState as Dispatch<WlRegion, RegionUserData, Self>>::request(
            state, client, region, request, data, display, init,
        );
    }
}

// The rest of wl_compositor as smithay has it (`delegate_compositor!` less
// wl_surface and wl_region, screened above).
delegate_global_dispatch!(Weft: [WlCompositor: ()] => CompositorState);
delegate_global_dispatch!(Weft: [WlSubcompositor: ()] => CompositorState);
delegate_dispatch!(Weft: [WlCompositor: ()] => CompositorState);
delegate_dispatch!(Weft: [WlCallback: ()] => CompositorState);
delegate_dispatch!(Weft: [WlSubcompositor: ()] => CompositorState);
delegate_dispatch!(Weft: [WlSubsurface: SubsurfaceUserData] => CompositorState);

impl Dispatch<WlShmPool, ShmPoolUserData> for Weft {
    fn request(
        state: &mut Self,
        client: &Client,
        pool: &WlShmPool,
        request: wl_shm_pool::Request,
        data: &ShmPoolUserData,
        display: &DisplayHandle,
        init: &mut DataInit<'_, Self>,
    ) {
        if let wl_shm_pool::Request::Resize { size } = request
            && size <= 0
        {
            pool.post_error(wl_shm::Error::InvalidFd, format!("a pool of {size} bytes"));
            return;
        }
        <ShmState as Dispatch<WlShmPool, ShmPoolUserData, Self>>::request(
            state, client, pool, request, data, display, init,
        );
    }
}

// The rest of wl_shm as smithay has it (`delegate_shm!` less wl_shm_pool).
delegate_global_dispatch!(Weft: [WlShm: ()] => ShmState);
delegate_dispatch!(Weft: [WlShm: ()] => ShmState);
delegate_dispatch!(Weft: [WlBuffer: ShmBufferUserData] => ShmState);

impl Dispatch<XdgPositioner, XdgPositionerUserData> for Weft {
    fn request(
        state: &mut Self,
        client: &Client,
        positioner: &XdgPositioner,
        request: xdg_positioner::Request,
        data: &XdgPositionerUserData,
        display: &DisplayHandle,
        init: &mut DataInit<'_, Self>,
    ) {
        // smithay asserts that sizes are not negative: refused here first.
        if let xdg_positioner::Request::SetParentSize { parent_width, parent_height } = request
            && (parent_width < 0 || parent_height < 0)
        {
            positioner.post_error(
                xdg_positioner::Error::InvalidInput,
                format!("a parent size of {parent_width}x{parent_height} is negative"),
            );
            return;
        }
        <XdgShellState as Dispatch<XdgPositioner, XdgPositionerUserData, Self>>::request(
            state, client, positioner, request, data, display, init,
        );
    }
}

// The rest of xdg-shell as smithay has it (`delegate_xdg_shell!` less
// xdg_positioner, screened above).
delegate_global_dispatch!(Weft: [XdgWmBase: ()] => XdgShellState);
delegate_dispatch!(Weft: [XdgWmBase: XdgWmBaseUserData] => XdgShellState);
delegate_dispatch!(Weft: [XdgPopup: XdgShellSurfaceUserData] => XdgShellState);
delegate_dispatch!(Weft: [XdgSurface: XdgSurfaceUserData] => XdgShellState);
delegate_dispatch!(Weft: [XdgToplevel: XdgShellSurfaceUserData] => XdgShellState);
