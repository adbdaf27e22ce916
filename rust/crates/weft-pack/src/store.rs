//! Installing into the app store: verified packages copied under
//! `<root>/<id>/` atomically, precompiled ahead of time, and removed. Finding,
//! listing and verifying installed apps is `weft_verify::store`, re-exported
//! here.

use std::fs;
use std::io;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use rustix::fs::{Access, CWD, RenameFlags, access, renameat_with};
use weft_verify::keys::TrustedKeys;
use weft_verify::package::{PackageError, Verified, verify_package};
use weft_verify::statement::Statement;
pub use weft_verify::store::*;
use weft_verify::tree::{EntryKind, SIGNATURE_FILE};

/// Prefix of the work directories an install copies into before the rename.
const INSTALL_PREFIX: &str = ".install-";
/// Prefix of the directories an uninstall renames an app to before deleting it.
const REMOVE_PREFIX: &str = ".remove-";

/// The first root that exists and is writable, or can be created.
pub fn first_writable(roots: &[PathBuf]) -> Result<PathBuf, StoreError> {
    for root in roots {
        if root.is_dir() {
            if access(root, Access::WRITE_OK).is_ok() {
                return Ok(root.clone());
            }
        } else if fs::create_dir_all(root).is_ok() {
            return Ok(root.clone());
        }
    }
    let listed: Vec<String> = roots.iter().map(|root| root.display().to_string()).collect();
    Err(StoreError::NoWritableRoot(listed.join(", ")))
}

/// Options for [`install`].
#[derive(Clone, Copy, Debug, Default)]
pub struct InstallOptions {
    /// Replace an installed app of another version (or other content).
    pub replace: bool,
    /// With `replace`, also accept an older version than the installed one.
    pub allow_downgrade: bool,
}

/// What [`install`] did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum InstallOutcome {
    /// Installed where nothing was.
    Installed(PathBuf),
    /// The same package was already installed; nothing changed.
    AlreadyInstalled(PathBuf),
    /// Replaced the given installed version.
    Replaced {
        /// Where.
        path: PathBuf,
        /// The version that was there.
        previous: String,
    },
}

/// Installs the signed package in `source` into `root`: verifies it (nothing is
/// copied if that fails), copies it into a work directory in the root, verifies
/// the copy, then renames it into place, or atomically exchanges it with the
/// installed version. An interrupted install leaves only a work directory that
/// lookups ignore and the next install removes.
pub fn install(
    source: &Path,
    root: &Path,
    trusted: &TrustedKeys,
    options: InstallOptions,
) -> Result<InstallOutcome, StoreError> {
    let offered = verify_package(source, trusted)?;
    let id = offered.id.as_str();
    let target = root.join(id);
    let previous = match fs::symlink_metadata(&target) {
        Ok(_) => Some(installed_statement(&target, trusted)),
        Err(error) if error.kind() == io::ErrorKind::NotFound => None,
        Err(source) => {
            return Err(StoreError::Io { step: "looking at the store", path: target, source });
        }
    };
    if let Some(Ok(installed)) = &previous {
        if installed.files_sha256 == offered.statement.files_sha256
            && installed.version == offered.statement.version
        {
            return Ok(InstallOutcome::AlreadyInstalled(target));
        }
        check_replacement(id, installed, &offered.statement, options)?;
    } else if previous.is_some() && !options.replace {
        // A damaged installation: replace only when asked.
        return Err(StoreError::OtherVersion {
            id: id.to_owned(),
            installed: "(unverifiable)".to_owned(),
            new: offered.statement.version.clone(),
        });
    }

    refuse_look_alikes(root, id, &offered.inspection.manifest.name)?;
    remove_stale_work_dirs(root, id);
    let work = root.join(format!("{INSTALL_PREFIX}{id}-{}", std::process::id()));
    let result = copy_package(source, &offered, &work)
        .and_then(|()| Ok(verify_package(&work, trusted)?))
        .and_then(|_| move_into_place(&work, &target, previous.is_some()));
    match result {
        Ok(()) => {}
        Err(error) => {
            let _ = fs::remove_dir_all(&work);
            return Err(error);
        }
    }
    Ok(match previous {
        None => InstallOutcome::Installed(target),
        Some(installed) => InstallOutcome::Replaced {
            path: target,
            previous: installed
                .map_or_else(|_| "(unverifiable)".to_owned(), |statement| statement.version),
        },
    })
}

fn installed_statement(path: &Path, trusted: &TrustedKeys) -> Result<Statement, PackageError> {
    verify_package(path, trusted).map(|verified| verified.statement)
}

/// Refuses `name` when it only looks like the name of another app installed
/// in `root` ([`weft_manifest::looks_like`]); the same name is allowed (the
/// system UI shows the ids of apps whose names are not unique).
fn refuse_look_alikes(root: &Path, id: &str, name: &str) -> Result<(), StoreError> {
    for path in app_dirs(root) {
        let Ok(other) = weft_manifest::Manifest::load(&path.join(weft_manifest::MANIFEST_FILE))
        else {
            continue;
        };
        if other.id.as_str() != id && weft_manifest::looks_like(name, &other.name) {
            return Err(StoreError::LooksLike {
                id: id.to_owned(),
                name: name.to_owned(),
                other_id: other.id.to_string(),
                other_name: other.name,
            });
        }
    }
    Ok(())
}

fn check_replacement(
    id: &str,
    installed: &Statement,
    offered: &Statement,
    options: InstallOptions,
) -> Result<(), StoreError> {
    let versions = || (installed.version.clone(), offered.version.clone());
    let older = match (
        semver::Version::parse(&installed.version),
        semver::Version::parse(&offered.version),
    ) {
        (Ok(installed), Ok(offered)) => offered < installed,
        _ => true,
    };
    if older && !options.allow_downgrade {
        let (installed, new) = versions();
        return Err(StoreError::Downgrade { id: id.to_owned(), installed, new });
    }
    if !options.replace {
        let (installed, new) = versions();
        return Err(StoreError::OtherVersion { id: id.to_owned(), installed, new });
    }
    Ok(())
}

/// Copies the verified entries and the signature of `source` into `work`.
fn copy_package(source: &Path, package: &Verified, work: &Path) -> Result<(), StoreError> {
    let io_error = |path: &Path| {
        let path = path.to_owned();
        move |source| StoreError::Io { step: "copying the package", path, source }
    };
    fs::create_dir(work).map_err(io_error(work))?;
    let entries = &package.statement.files;
    for entry in entries {
        let target = work.join(&entry.path);
        match entry.kind {
            EntryKind::Dir => fs::create_dir(&target).map_err(io_error(&target))?,
            EntryKind::File => {
                fs::copy(source.join(&entry.path), &target).map(drop).map_err(io_error(&target))?;
            }
        }
    }
    let signature = work.join(SIGNATURE_FILE);
    fs::copy(source.join(SIGNATURE_FILE), &signature).map_err(io_error(&signature))?;
    for entry in entries.iter().rev() {
        let target = work.join(&entry.path);
        fs::set_permissions(&target, fs::Permissions::from_mode(entry.mode))
            .map_err(io_error(&target))?;
    }
    fs::set_permissions(&signature, fs::Permissions::from_mode(0o644))
        .map_err(io_error(&signature))?;
    fs::set_permissions(work, fs::Permissions::from_mode(0o755)).map_err(io_error(work))
}

/// Renames `work` to `target`, or exchanges them atomically and deletes the old
/// version, which the exchange left at `work`.
fn move_into_place(work: &Path, target: &Path, exchange: bool) -> Result<(), StoreError> {
    let io_error = |source: io::Error| StoreError::Io {
        step: "moving the package into place",
        path: target.to_owned(),
        source,
    };
    if exchange {
        renameat_with(CWD, work, CWD, target, RenameFlags::EXCHANGE)
            .map_err(|errno| io_error(errno.into()))?;
        fs::remove_dir_all(work).map_err(io_error)
    } else {
        renameat_with(CWD, work, CWD, target, RenameFlags::NOREPLACE)
            .map_err(|errno| io_error(errno.into()))
    }
}

/// Removes work directories of earlier installs of `id` whose process is gone.
fn remove_stale_work_dirs(root: &Path, id: &str) {
    let Ok(entries) = fs::read_dir(root) else { return };
    let prefix = format!("{INSTALL_PREFIX}{id}-");
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(pid) = name.to_str().and_then(|name| name.strip_prefix(&prefix)) else { continue };
        if !Path::new("/proc").join(pid).exists() {
            let _ = fs::remove_dir_all(entry.path());
        }
    }
}

/// Compiles the installed app at `path` ahead of time into `aot`, so that its
/// launches load machine code instead of compiling. The component is read from
/// the installed (verified) copy, never from the source package.
pub fn precompile_installed(path: &Path, aot: &weft_aot::ArtifactStore) -> anyhow::Result<PathBuf> {
    let manifest = weft_manifest::Manifest::load(&path.join(weft_manifest::MANIFEST_FILE))?;
    let component = fs::read(path.join(manifest.module.as_path()))?;
    aot.precompile(&weft_aot::engine()?, &component)
}

/// Removes the installed app `id` from the first root that has it: renamed out of
/// sight first, so it disappears at once, then deleted.
pub fn uninstall(roots: &[PathBuf], id: &str) -> Result<PathBuf, StoreError> {
    let path = find(roots, id)?;
    let parked = path.with_file_name(format!("{REMOVE_PREFIX}{id}-{}", std::process::id()));
    let io_error = |source| StoreError::Io { step: "removing the app", path: path.clone(), source };
    fs::rename(&path, &parked).map_err(io_error)?;
    fs::remove_dir_all(&parked).map_err(io_error)?;
    Ok(path)
}
