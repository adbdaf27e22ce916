//! `weft-runtime`: one app session in one process.
//!
//! It loads the app's component (precompiled by the system, see `weft-aot`;
//! the process links no compiler, and a component without an artifact is
//! compiled by the installer, `weft-pack precompile`, before the sandbox),
//! refuses it if it imports anything its manifest's capabilities do not grant,
//! links exactly the granted interfaces, applies memory, table, instance, stack
//! and CPU limits, and runs the component's `wasi:cli/run`. When the app calls
//! `weft:app/notify.ready` it prints `READY` on stdout; everything else it says
//! goes over the session channel to the supervisor. The exit status
//! ([`Exit`]) tells how the session ended.
//!
//! Before any guest code runs the process enters its sandbox: no new
//! privileges, a Landlock ruleset allowing only the granted directories, and a
//! seccomp allowlist of system calls.

mod compile;
mod fetch;
mod host;
mod launch;
pub mod limits;
mod linking;
mod sandbox;
mod session;
pub mod spare;
mod world;

pub use crate::launch::{LaunchOptions, Refusal, VerifiedDigests, run};
pub use crate::spare::Prepared;
pub use crate::world::{WorldMismatch, check as check_world};
pub use weft_protocol::runtime::Exit;
