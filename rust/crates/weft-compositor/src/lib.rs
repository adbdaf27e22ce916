//! `weft-compositor`: the WEFT OS Wayland compositor, built on smithay. It owns
//! the screen and input; the system UI (the panel) and every app's UI are its
//! clients. Each connection is authorised for one app id (or the system UI),
//! and may only create windows for it (`zweft-shell-unstable-v1`, see
//! `protocols/`). Standard xdg-shell windows work too, and belong to the app
//! their connection speaks for.

pub mod backend;
pub mod control;
pub mod drm;
pub mod input;
pub mod limits;
pub mod server;
pub mod shell;
pub mod state;
pub mod winit;
mod zweft;
