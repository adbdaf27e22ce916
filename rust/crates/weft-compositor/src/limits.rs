//! What one client may hold. The compositor owns the screen: a client that
//! creates without end (surfaces, regions, callbacks, any protocol object)
//! would take its memory and time from everyone, so a client over a limit is
//! disconnected (the log names the app and the limit), and the rest go on.
//!
//! The wire is libwayland-server's (wayland-backend's `server_system`), which
//! bounds what the limits here cannot see: it reads at most 4 KiB of a
//! client's requests per dispatch, holds at most 1,024 descriptors a client
//! sent ahead of the requests that take them, and disconnects a client that
//! sends more or never reads its events.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

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

/// Per-connection data.
#[derive(Debug)]
pub struct ClientState {
    /// smithay's per-client compositor state.
    pub compositor: CompositorClientState,
    /// What the connection may do.
    pub authorization: Authorization,
    /// How many surfaces the client holds now (each surface's destruction
    /// hook holds it too: a surface being destroyed no longer knows its
    /// client).
    surfaces: Arc<AtomicUsize>,
}

impl ClientState {
    /// A new connection's data, for a client that may do what `authorization` says.
    pub fn new(authorization: Authorization) -> Self {
        Self {
            compositor: CompositorClientState::default(),
            authorization,
            surfaces: Arc::default(),
        }
    }
}

impl ClientData for ClientState {
    fn disconnected(&self, _client: ClientId, reason: DisconnectReason) {
        tracing::info!(app = %self.authorization.app_id, ?reason, "client disconnected");
    }
}

/// The clients the compositor serves, and those a request handler found over
/// a limit: they are disconnected after the dispatch, never inside a handler
/// (libwayland frees a destroyed client that its handler still reads from).
#[derive(Debug, Default)]
pub struct Limits {
    /// Every connected client (libwayland's own list cannot be walked
    /// through wayland-backend 0.3.17: its `with_all_clients` never ends).
    clients: Vec<ClientId>,
    /// Clients to disconnect after this dispatch, with the limit they broke.
    over_limit: Vec<(ClientId, String)>,
}

impl Limits {
    /// Starts counting for a new connection.
    pub fn admit(&mut self, client: ClientId) {
        self.clients.push(client);
    }

    /// Counts a new surface against its client's [`MAX_SURFACES_PER_CLIENT`]
    /// (and uncounts it when it is destroyed); a client over it is
    /// disconnected after this dispatch.
    pub fn count_surface(&mut self, surface: &WlSurface) {
        let Some(client) = surface.client() else { return };
        let Some(data) = client.get_data::<ClientState>() else { return };
        let held = data.surfaces.fetch_add(1, Ordering::Relaxed) + 1;
        if held == MAX_SURFACES_PER_CLIENT + 1 {
            let message = format!("more than {MAX_SURFACES_PER_CLIENT} surfaces at once");
            self.over_limit.push((client.id(), message));
        }
        let surfaces = Arc::clone(&data.surfaces);
        compositor::add_destruction_hook::<Weft, _>(surface, move |_, _| {
            surfaces.fetch_sub(1, Ordering::Relaxed);
        });
    }

    /// Disconnects every client found over a limit: those the handlers
    /// found, and those holding more than [`MAX_OBJECTS_PER_CLIENT`]
    /// objects. Run after each dispatch of the clients' requests: what one
    /// client can create between two runs is what libwayland reads from it
    /// in one go (at most 4 KiB of requests).
    pub fn enforce(&mut self, display: &DisplayHandle) {
        let handle = display.backend_handle();
        // Forget the clients that left.
        self.clients.retain(|client| handle.get_client_data(client.clone()).is_ok());
        for client in &self.clients {
            let mut held = 0;
            // The backend is locked while this runs: count only, act after.
            if handle.with_all_objects_for(client.clone(), |_| held += 1).is_ok()
                && held > MAX_OBJECTS_PER_CLIENT
            {
                let message =
                    format!("more than {MAX_OBJECTS_PER_CLIENT} protocol objects at once");
                self.over_limit.push((client.clone(), message));
            }
        }
        for (client, message) in self.over_limit.drain(..) {
            let Ok(data) = handle.get_client_data(client.clone()) else { continue };
            let app = data
                .downcast_ref::<ClientState>()
                .map(|data| data.authorization.app_id.clone())
                .unwrap_or_default();
            tracing::warn!(%app, "client disconnected: {message}");
            // libwayland closes its socket at once. (The client is not sent
            // a wl_display.error first: wayland-backend 0.3.17 cannot send
            // one, and an error posted on one of its objects would leave it
            // connected until it next sends something.)
            handle.kill_client(client, DisconnectReason::ConnectionClosed);
        }
    }
}
