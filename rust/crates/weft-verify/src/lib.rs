//! `weft-verify`: checking WEFT packages and images against their signatures,
//! with nothing but parsers and hashes: no compiler, no async runtime, no
//! command-line parser. The mount helper (the privileged piece) and weft-appd
//! (the supervisor) link this crate and not `weft-pack`, whose installer
//! precompiles components with wasmtime.
//!
//! - [`inspect`] checks a package's content as the runtime would run it (the
//!   manifest, the component's imports against its capabilities, the web UI);
//! - [`tree`] lists every entry with its mode and SHA-256; [`statement`] is the
//!   signed list with the app's id and version, Ed25519 keys in [`keys`];
//! - [`verify_package`] verifies a package directory, failing closed;
//! - [`image`] checks an image's signed statement and verifies a whole image
//!   without mounting it;
//! - [`store`] finds, verifies and lists installed apps.
//!
//! `docs/package-format.md` describes the formats.

pub mod component;
mod files;
pub mod image;
pub mod image_list;
mod inspect;
mod kept;
pub mod keys;
pub mod package;
pub mod statement;
pub mod store;
pub mod tree;
pub mod verified_statements;

pub use crate::inspect::{
    DirFiles, InspectError, Inspection, PackageFiles, inspect, inspect_files,
};
pub use crate::package::{PackageError, Verified, sign_package, verify_package};
