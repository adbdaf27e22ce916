//! What one client may hold. The compositor owns the screen: a client that
//! creates without end (surfaces, regions, callbacks, any protocol object)
//! would take its memory and time from everyone, so a client over a limit is
//! told so with `wl_display.no_memory` and disconnected, and the rest go on.

use std::sync::atomic::{AtomicUsize, Ordering};

use smithay::reexports::wayland_server::backend::protocol::ProtocolError;
use smithay::reexports::wayland_server::backend::{ClientData, ClientId, DisconnectReason};
use smithay::reexports::wayland_server::protocol::wl_surface::WlSurface;
use smithay::reexports::wayland_server::{DisplayHandle, Resource};
use smithay::wayland::compositor::{self, CompositorClientState};

use crate::state::{Authorization, Weft};

/// The most surfaces (subsurfaces included) one client may hold at once:
/// far more than any app's UI uses, and it bounds what one client can make
/// the compositor keep and tear down (smithay removes each destroyed surface
/// from a list, so a client's teardown grows with the square of its count:
/// 40,000 surfaces froze the compositor for 31 to 60 s).
pub const MAX_SURFACES_PER_CLIENT: usize = 1024;

/// The most protocol objects of any kind one client may hold at once (a
/// Servo shell holds about a hundred): 2 million regions took the
/// compositor from 21 to 323 MB before there was a limit.
pub const MAX_OBJECTS_PER_CLIENT: usize = 8192;

/// wl_display's `no_memory` error: a client over a limit is told so with it.
const WL_DISPLAY_NO_MEMORY: u32 = 2;

/// Per-connection data.
#[derive(Debug)]
pub struct ClientState {
    /// smithay's per-client compositor state.
    pub compositor: CompositorClientState,
    /// What the connection may do.
    pub authorization: Authorization,
    /// How many surfaces the client holds now.
    surfaces: AtomicUsize,
}

impl ClientState {
    /// A new connection's data, for a client that may do what `authorization` says.
    pub fn new(authorization: Authorization) -> Self {
        Self {
            compositor: CompositorClientState::default(),
            authorization,
            surfaces: AtomicUsize::new(0),
        }
    }
}

impl ClientData for ClientState {
    fn disconnected(&self, _client: ClientId, reason: DisconnectReason) {
        tracing::info!(app = %self.authorization.app_id, ?reason, "client disconnected");
    }
}

/// The error that disconnects a client over a limit, saying which.
fn over_limit(message: String) -> DisconnectReason {
    DisconnectReason::ProtocolError(ProtocolError {
        code: WL_DISPLAY_NO_MEMORY,
        object_id: 1,
        object_interface: "wl_display".into(),
        message,
    })
}

/// Counts a new surface against its client's [`MAX_SURFACES_PER_CLIENT`]
/// (and uncounts it when it is destroyed); a client over it is disconnected.
pub fn count_surface(display: &DisplayHandle, surface: &WlSurface) {
    let Some(client) = surface.client() else { return };
    let Some(data) = client.get_data::<ClientState>() else { return };
    let held = data.surfaces.fetch_add(1, Ordering::Relaxed) + 1;
    if held > MAX_SURFACES_PER_CLIENT {
        let message = format!("more than {MAX_SURFACES_PER_CLIENT} surfaces at once");
        tracing::warn!(app = %data.authorization.app_id, "client disconnected: {message}");
        display.backend_handle().kill_client(client.id(), over_limit(message));
        return;
    }
    compositor::add_destruction_hook::<Weft, _>(surface, |_, surface| {
        // A disconnected client's surfaces have no client left to count for.
        if let Some(client) = surface.client()
            && let Some(data) = client.get_data::<ClientState>()
        {
            data.surfaces.fetch_sub(1, Ordering::Relaxed);
        }
    });
}

/// Disconnects every client that holds more than [`MAX_OBJECTS_PER_CLIENT`]
/// objects, and returns them: the backend closes a killed client's socket
/// when it next dispatches that client. Run after each dispatch of the
/// clients' requests: what one client can create between two runs is what
/// one dispatch reads from it.
pub fn enforce_object_limit(display: &DisplayHandle) -> Vec<ClientId> {
    let handle = display.backend_handle();
    let mut clients = Vec::new();
    handle.with_all_clients(|client| clients.push(client));
    let mut killed = Vec::new();
    for client in clients {
        let mut held = 0;
        // The backend is locked while this runs: count only, act after.
        if handle.with_all_objects_for(client.clone(), |_| held += 1).is_err() {
            continue;
        }
        if held > MAX_OBJECTS_PER_CLIENT {
            let message = format!("more than {MAX_OBJECTS_PER_CLIENT} protocol objects at once");
            let app = handle
                .get_client_data(client.clone())
                .ok()
                .and_then(|data| {
                    data.downcast_ref::<ClientState>().map(|data| data.authorization.app_id.clone())
                })
                .unwrap_or_default();
            tracing::warn!(%app, held, "client disconnected: {message}");
            handle.kill_client(client.clone(), over_limit(message));
            killed.push(client);
        }
    }
    killed
}
