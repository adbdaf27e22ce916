//! `weft-pack`: the package tool of WEFT OS.
//!
//! A package is a directory holding `wapp.toml`, the app's component, its web UI
//! and a detached signature (`wapp.sig`). This crate:
//!
//! - checks a package as the runtime would before launching it ([`inspect`]);
//! - lists every entry with its mode and SHA-256 ([`tree`]) and signs that list
//!   with the app's id and version in a statement ([`statement`], Ed25519 keys in
//!   [`keys`]);
//! - verifies a package against its signature and the trusted keys
//!   ([`verify_package`]), failing closed;
//! - builds a reproducible EROFS image with an appended dm-verity hash tree, signs
//!   its root hash, and verifies such an image without mounting it ([`image`]);
//! - installs verified packages atomically into a store ([`store`]).
//!
//! `docs/package-format.md` describes the formats.

pub mod cli;
pub mod component;
mod files;
pub mod image;
mod inspect;
pub mod keys;
mod package;
pub mod statement;
pub mod store;
pub mod tree;

pub use crate::inspect::{
    DirFiles, InspectError, Inspection, PackageFiles, inspect, inspect_files,
};
pub use crate::package::{PackageError, Verified, sign_package, verify_package};
