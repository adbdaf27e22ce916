//! The messages WEFT OS processes exchange, and how they are framed. Besides
//! this crate, processes share only `weft-manifest` (app ids, capabilities)
//! and `weft-sandbox` (the seccomp allowlist); `docs/protocol.md` describes
//! every message with examples.
//!
//! - [`session`]: the Unix stream socket between one app's `weft-runtime` and the
//!   supervisor; newline-delimited JSON, at most [`session::MAX_LINE_BYTES`] a line.
//! - [`appd`]: clients (the system UI, `weftctl`) and the supervisor `weft-appd`;
//!   length-prefixed MessagePack frames on a Unix socket, at most
//!   [`appd::MAX_FRAME_BYTES`], after a version handshake.
//!   `appd_client` (feature `appd-client`) is a client of it.
//! - [`compositor`]: `weft-appd` and `weft-compositor`'s control socket; the
//!   same frames ([`frame`]).
//! - [`portal`]: a session and its `weft-file-portal`.
//! - [`runtime`]: what `weft-runtime` promises its supervisor (the READY line,
//!   the exit statuses, where precompiled components live).
//! - `artifact` (feature `artifacts`): the store of precompiled components
//!   and how an artifact is checked against its recorded SHA-256.
//! - `zweft`: the Wayland protocol `zweft-shell-unstable-v1` between the
//!   compositor and the shells (features `zweft-server`, `zweft-client`).

#![warn(missing_docs)]

pub mod appd;
#[cfg(feature = "appd-client")]
pub mod appd_client;
#[cfg(feature = "artifacts")]
pub mod artifact;
pub mod compositor;
pub mod frame;
pub mod portal;
pub mod runtime;
pub mod session;
#[cfg(any(feature = "zweft-server", feature = "zweft-client"))]
pub mod zweft;
