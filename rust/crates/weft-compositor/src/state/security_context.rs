//! `wp_security_context_v1`: the system UI hands out connections tagged with
//! one app id; new contexts are adopted by the server loop.

use smithay::delegate_security_context;
use smithay::wayland::security_context::{
    SecurityContext, SecurityContextHandler, SecurityContextListenerSource,
};

use super::Weft;

impl SecurityContextHandler for Weft {
    fn context_created(&mut self, source: SecurityContextListenerSource, context: SecurityContext) {
        self.new_contexts.push((source, context));
    }
}

delegate_security_context!(Weft);
