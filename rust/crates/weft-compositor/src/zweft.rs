//! The zweft-shell protocol's server side: window creation under the
//! connection's authorization, metadata and geometry requests.

use smithay::reexports::wayland_server::backend::ClientId;
use smithay::reexports::wayland_server::{
    Client, DataInit, Dispatch, DisplayHandle, GlobalDispatch, New, Resource,
};
use smithay::wayland::compositor;

use crate::shell::{Role, WindowId};
use crate::state::{Weft, WindowKind};
use weft_protocol::zweft::server::zweft_shell_manager_v1::{self, ZweftShellManagerV1};
use weft_protocol::zweft::server::zweft_shell_window_v1::{self, ZweftShellWindowV1};

/// The surface role zweft windows take.
const ROLE: &str = "zweft_shell_window_v1";

/// Advertises `zweft_shell_manager_v1`.
pub fn create_global(display: &DisplayHandle) {
    display.create_global::<Weft, ZweftShellManagerV1, ()>(1, ());
}

impl GlobalDispatch<ZweftShellManagerV1, ()> for Weft {
    fn bind(
        _state: &mut Self,
        _display: &DisplayHandle,
        _client: &Client,
        resource: New<ZweftShellManagerV1>,
        _data: &(),
        init: &mut DataInit<'_, Self>,
    ) {
        init.init(resource, ());
    }
}

impl Dispatch<ZweftShellManagerV1, ()> for Weft {
    fn request(
        state: &mut Self,
        client: &Client,
        manager: &ZweftShellManagerV1,
        request: zweft_shell_manager_v1::Request,
        _data: &(),
        _display: &DisplayHandle,
        init: &mut DataInit<'_, Self>,
    ) {
        use zweft_shell_manager_v1::Error;
        let zweft_shell_manager_v1::Request::CreateWindow {
            id,
            app_id,
            title,
            role,
            surface,
            x: _,
            y: _,
            width,
            height,
        } = request
        else {
            return;
        };
        let Some(authorization) = state.authorization_of(Some(client.clone())) else { return };
        let role = match role.into_result() {
            Ok(zweft_shell_manager_v1::Role::Panel) if !authorization.system_ui => {
                manager
                    .post_error(Error::PanelForbidden, "only the system UI may create the panel");
                return;
            }
            Ok(zweft_shell_manager_v1::Role::Panel) => Role::Panel,
            Ok(_) if app_id != authorization.app_id => {
                manager.post_error(
                    Error::UnauthorizedAppId,
                    format!(
                        "this connection speaks for {:?}, not {app_id:?}",
                        authorization.app_id
                    ),
                );
                return;
            }
            Ok(_) => Role::Application { app_id },
            Err(_) => {
                manager.post_error(Error::Role, "unknown role");
                return;
            }
        };
        if width <= 0 || height <= 0 {
            manager.post_error(Error::InvalidGeometry, format!("{width}x{height} is not a size"));
            return;
        }
        if role == Role::Panel && state.layout.panel().is_some() {
            manager.post_error(Error::PanelExists, "a panel already exists");
            return;
        }
        if compositor::give_role(&surface, ROLE).is_err() {
            manager.post_error(Error::Role, "the surface already has a role");
            return;
        }
        let window = init.init(id, std::sync::Mutex::new(None::<WindowId>));
        let created =
            state.add_window(role, title, surface, WindowKind::Zweft(window.clone()), height);
        if let Some(slot) = window.data::<std::sync::Mutex<Option<WindowId>>>() {
            *slot.lock().expect("window id") = created;
        }
    }
}

/// The window a resource stands for.
fn window_id(resource: &ZweftShellWindowV1) -> Option<WindowId> {
    *resource.data::<std::sync::Mutex<Option<WindowId>>>()?.lock().expect("window id")
}

impl Dispatch<ZweftShellWindowV1, std::sync::Mutex<Option<WindowId>>> for Weft {
    fn request(
        state: &mut Self,
        _client: &Client,
        resource: &ZweftShellWindowV1,
        request: zweft_shell_window_v1::Request,
        _data: &std::sync::Mutex<Option<WindowId>>,
        _display: &DisplayHandle,
        _init: &mut DataInit<'_, Self>,
    ) {
        let Some(id) = window_id(resource) else { return };
        match request {
            zweft_shell_window_v1::Request::Destroy => state.remove_window(id),
            zweft_shell_window_v1::Request::UpdateMetadata { title } => {
                if let Some(window) = state.windows.get_mut(&id) {
                    window.title = title;
                }
            }
            zweft_shell_window_v1::Request::SetGeometry { height, .. } => {
                if state.layout.panel() == Some(id) {
                    state.layout.set_panel_thickness(height);
                }
                state.relayout();
            }
            // Requests of later protocol versions, which this one does not offer.
            _ => {}
        }
    }

    fn destroyed(
        state: &mut Self,
        _client: ClientId,
        _resource: &ZweftShellWindowV1,
        data: &std::sync::Mutex<Option<WindowId>>,
    ) {
        if let Some(id) = *data.lock().expect("window id") {
            state.remove_window(id);
        }
    }
}
