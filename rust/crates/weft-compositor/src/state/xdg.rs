//! `xdg_shell` and `xdg_decoration`: standard toplevel windows, which belong
//! to the app their connection speaks for, decorated by the compositor.
//! xdg_shell's requests reach smithay through `screened.rs`.

use smithay::delegate_xdg_decoration;
use smithay::reexports::wayland_protocols::xdg::decoration::zv1::server::zxdg_toplevel_decoration_v1;
use smithay::reexports::wayland_server::Resource;
use smithay::reexports::wayland_server::protocol::wl_seat::WlSeat;
use smithay::utils::Serial;
use smithay::wayland::compositor;
use smithay::wayland::shell::xdg::decoration::XdgDecorationHandler;
use smithay::wayland::shell::xdg::{
    PopupSurface, PositionerState, ToplevelSurface, XdgShellHandler, XdgShellState,
    XdgToplevelSurfaceData,
};

use crate::shell::Role;

use super::{Weft, WindowKind, initial_configure_sent};

impl XdgShellHandler for Weft {
    fn xdg_shell_state(&mut self) -> &mut XdgShellState {
        &mut self.xdg_shell_state
    }

    fn new_toplevel(&mut self, toplevel: ToplevelSurface) {
        // A toplevel belongs to the app its connection speaks for, whatever
        // app id the client sets.
        let Some(authorization) = self.authorization_of(toplevel.wl_surface().client()) else {
            return;
        };
        let surface = toplevel.wl_surface().clone();
        self.add_window(
            Role::Application { app_id: authorization.app_id },
            String::new(),
            surface,
            WindowKind::Xdg(toplevel),
            0,
        );
    }

    fn toplevel_destroyed(&mut self, toplevel: ToplevelSurface) {
        if let Some(id) = self.window_of(toplevel.wl_surface()) {
            self.remove_window(id);
        }
    }

    fn title_changed(&mut self, toplevel: ToplevelSurface) {
        let title = compositor::with_states(toplevel.wl_surface(), |states| {
            states
                .data_map
                .get::<XdgToplevelSurfaceData>()
                .and_then(|data| data.lock().expect("toplevel data").title.clone())
        });
        if let Some(id) = self.window_of(toplevel.wl_surface())
            && let Some(window) = self.windows.get_mut(&id)
        {
            window.title = title.unwrap_or_default();
        }
    }

    fn new_popup(&mut self, _surface: PopupSurface, _positioner: PositionerState) {
        // Popups are not shown yet; the client keeps working without them.
    }

    fn grab(&mut self, _surface: PopupSurface, _seat: WlSeat, _serial: Serial) {}

    fn reposition_request(
        &mut self,
        _surface: PopupSurface,
        _positioner: PositionerState,
        _token: u32,
    ) {
    }
}

impl XdgDecorationHandler for Weft {
    fn new_decoration(&mut self, toplevel: ToplevelSurface) {
        server_side_decorations(&toplevel);
    }

    fn request_mode(
        &mut self,
        toplevel: ToplevelSurface,
        _mode: zxdg_toplevel_decoration_v1::Mode,
    ) {
        server_side_decorations(&toplevel);
    }

    fn unset_mode(&mut self, toplevel: ToplevelSurface) {
        server_side_decorations(&toplevel);
    }
}

/// Tells a toplevel its decorations are the compositor's (so it draws none).
fn server_side_decorations(toplevel: &ToplevelSurface) {
    toplevel.with_pending_state(|state| {
        state.decoration_mode = Some(zxdg_toplevel_decoration_v1::Mode::ServerSide);
    });
    if initial_configure_sent(toplevel) {
        toplevel.send_pending_configure();
    }
}

delegate_xdg_decoration!(Weft);
