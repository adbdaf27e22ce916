//! `weft-pack`: the package tool of WEFT OS.
//!
//! A package is a directory holding `wapp.toml`, the app's component, its web UI
//! and a detached signature (`wapp.sig`). Checking and verifying packages and
//! images is `weft-verify` (re-exported here, so the tool has one API); this
//! crate adds what only the tool does:
//!
//! - builds a reproducible EROFS image with an appended dm-verity hash tree and
//!   signs its root hash ([`image::build_image`]);
//! - installs verified packages atomically into a store and precompiles their
//!   components with wasmtime ([`store::install`], [`store::precompile_installed`]);
//! - the `weft-pack` command line ([`cli`]).
//!
//! `docs/package-format.md` describes the formats.

pub mod cli;
pub mod image;
pub mod store;
mod world;

pub use weft_verify::{
    DirFiles, InspectError, Inspection, PackageError, PackageFiles, Verified, component, inspect,
    inspect_files, keys, sign_package, statement, tree, verify_package,
};
