//! `weft-pack`: the package tool of WEFT OS.
//!
//! A package is a directory holding `wapp.toml`, the app's component and its web
//! UI. [`inspect`] checks one as the runtime would before launching it: a valid
//! manifest, a valid wasm32-wasip2 component, no import beyond what the manifest's
//! capabilities grant, and a UI entry page. Signing, verification and EROFS images
//! build on this.

pub mod component;
mod inspect;

pub use crate::inspect::{InspectError, Inspection, inspect};
