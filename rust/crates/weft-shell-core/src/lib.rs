//! What WEFT's Servo shells share without linking Servo, so it is built and
//! tested with the rest of the workspace: the `weft-app://` scheme, which
//! serves an app's web UI only from its own verified, read-only package, and
//! the zweft-shell window that shows a web view's frames on weft-compositor
//! and brings back its input, the `weftIpc` bridge between a page and its
//! app through weft-appd, and the system UI's bridge to weft-appd's WebSocket.

pub mod appd;
pub mod bridge;
pub mod frames;
pub mod ipc;
pub mod keymap;
pub mod policy;
pub mod scheme;
pub mod window;
