//! The app store's lookups: where installed apps live (`<root>/<id>/`), finding
//! one, verifying it in place and listing every one.
//!
//! Store roots, in order: `$WEFT_APP_STORE`, `$XDG_DATA_HOME/weft/apps` (default
//! `~/.local/share/weft/apps`), `/usr/share/weft/apps`. `weft-pack install` writes
//! into the first writable one; lookups search all of them in that order.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use weft_manifest::{AppId, AppIdError};

use crate::keys::TrustedKeys;
use crate::package::{PackageError, Signed, Verified, read_signed, verify_package};
use crate::verified_statements::VerifiedStatements;

/// The environment variable naming the first store root.
pub const STORE_ENV: &str = "WEFT_APP_STORE";
/// The system-wide store root.
pub const SYSTEM_STORE: &str = "/usr/share/weft/apps";

/// Why a store operation failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The package did not verify.
    #[error(transparent)]
    Package(#[from] PackageError),
    /// A filesystem operation failed.
    #[error("{step}: {}", path.display())]
    Io {
        /// What was being done.
        step: &'static str,
        /// The path.
        path: PathBuf,
        /// Why.
        #[source]
        source: io::Error,
    },
    /// No store root can be written.
    #[error("no writable store root among: {0}")]
    NoWritableRoot(String),
    /// The argument is not an app id.
    #[error("{id:?} is not an app id")]
    BadId {
        /// The argument.
        id: String,
        /// Why.
        #[source]
        source: AppIdError,
    },
    /// The app is not installed in any root.
    #[error("{0} is not installed")]
    NotInstalled(String),
    /// Another version is installed and replacing was not asked for.
    #[error("{id} {installed} is installed; pass --replace to install {new} over it")]
    OtherVersion {
        /// The app.
        id: String,
        /// The installed version.
        installed: String,
        /// The version offered.
        new: String,
    },
    /// The offered version is older than the installed one.
    #[error(
        "{id} {new} is older than the installed {installed}; pass --allow-downgrade to install it"
    )]
    Downgrade {
        /// The app.
        id: String,
        /// The installed version.
        installed: String,
        /// The version offered.
        new: String,
    },
    /// The app's name only looks like an installed app's (confusable
    /// characters): one app could pass for the other in the launcher.
    #[error(
        "the name {name:?} of {id} looks like {other_name:?} of the installed {other_id} \
         (confusable characters, Unicode's skeleton is the same): refused, so that one app \
         cannot pass for the other"
    )]
    LooksLike {
        /// The app offered.
        id: String,
        /// Its name.
        name: String,
        /// The installed app it looks like.
        other_id: String,
        /// That app's name.
        other_name: String,
    },
    /// An installed app's directory is not named after its signed id.
    #[error("{} holds a package signed for {signed}, not {dir_name}", path.display())]
    WrongDirectory {
        /// The directory.
        path: PathBuf,
        /// Its name.
        dir_name: String,
        /// The signed id.
        signed: String,
    },
}

/// The store roots, in search order.
pub fn store_roots() -> Vec<PathBuf> {
    let mut roots = Vec::new();
    if let Some(root) = std::env::var_os(STORE_ENV).filter(|root| !root.is_empty()) {
        roots.push(PathBuf::from(root));
    }
    let data_home = std::env::var_os("XDG_DATA_HOME")
        .filter(|dir| !dir.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|home| Path::new(&home).join(".local/share")));
    if let Some(data_home) = data_home {
        roots.push(data_home.join("weft/apps"));
    }
    roots.push(PathBuf::from(SYSTEM_STORE));
    roots
}

/// Validates `id` and finds its directory in the first root that has it.
pub fn find(roots: &[PathBuf], id: &str) -> Result<PathBuf, StoreError> {
    let app_id =
        AppId::new(id).map_err(|source| StoreError::BadId { id: id.to_owned(), source })?;
    roots
        .iter()
        .map(|root| root.join(app_id.as_str()))
        .find(|path| path.is_dir())
        .ok_or_else(|| StoreError::NotInstalled(id.to_owned()))
}

/// Verifies the installed package at `<root>/<dir_name>`, including that the
/// directory is named after the signed id.
pub fn verify_installed(path: &Path, trusted: &TrustedKeys) -> Result<Verified, StoreError> {
    let verified = verify_package(path, trusted)?;
    check_directory_name(path, verified.id.as_str())?;
    Ok(verified)
}

/// Reads the installed package at `path` as a launch starts it
/// ([`read_signed`]: its signature, its manifest against the signed one, the
/// identity) and checks that its directory is named after its id. Its other
/// files are checked by [`crate::package::check_files`] before anything of it runs.
pub fn read_installed_for_launch(
    path: &Path,
    trusted: &TrustedKeys,
    verified: &VerifiedStatements,
) -> Result<Signed, StoreError> {
    let signed = read_signed(path, trusted, verified)?;
    check_directory_name(path, signed.manifest.id.as_str())?;
    Ok(signed)
}

fn check_directory_name(path: &Path, signed: &str) -> Result<(), StoreError> {
    let dir_name =
        path.file_name().map(|name| name.to_string_lossy().into_owned()).unwrap_or_default();
    if dir_name != signed {
        return Err(StoreError::WrongDirectory {
            path: path.to_owned(),
            dir_name,
            signed: signed.to_owned(),
        });
    }
    Ok(())
}

/// One directory of a store root.
#[derive(Debug)]
pub struct Listed {
    /// The directory.
    pub path: PathBuf,
    /// Its verification, or why it failed.
    pub verified: Result<Verified, StoreError>,
}

/// Every app directory in every root (names starting with `.` are work
/// directories and are skipped), each fully verified.
pub fn list(roots: &[PathBuf], trusted: &TrustedKeys) -> Vec<Listed> {
    let mut listed = Vec::new();
    for root in roots {
        for path in app_dirs(root) {
            let verified = verify_installed(&path, trusted);
            listed.push(Listed { path, verified });
        }
    }
    listed
}

/// The app directories of a store (`root/<id>`), sorted; names starting with
/// `.` are work directories and are skipped. An unreadable root has none.
pub fn app_dirs(root: &Path) -> Vec<PathBuf> {
    let Ok(entries) = fs::read_dir(root) else { return Vec::new() };
    let mut paths: Vec<PathBuf> = entries
        .flatten()
        .filter(|entry| !entry.file_name().to_string_lossy().starts_with('.'))
        .map(|entry| entry.path())
        .collect();
    paths.sort();
    paths
}
