//! `weft-appd`, the session supervisor: it launches verified apps in
//! `weft-runtime`, follows each session from Starting to Running to Stopped,
//! relays IPC between apps and their UIs, and answers clients on a private
//! Unix socket (`docs/protocol.md`). `weftctl` is its operator CLI.

pub mod authority;
pub mod cgroup;
pub mod compositor;
pub mod config;
pub mod daemon;
pub mod image_mounts;
pub mod installed;
pub mod lifecycle;
pub mod server;
pub mod settings;
pub mod usage;
pub mod versions;
