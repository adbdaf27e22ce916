//! `weft-mount-helper`: the only privileged piece of WEFT OS. It takes an app
//! id and nothing else, finds that app's signed image in the system image
//! store, checks the signature against the system's trusted keys, maps the
//! image through dm-verity with the root hash and salt **from the verified
//! statement**, reads every block once through the mapping (a wrong root hash
//! or a flipped byte fails here, not later inside an app), and mounts the
//! EROFS filesystem read-only, `nosuid,nodev,noexec`, at
//! `/run/weft/apps/<id>`. Whatever a failing step made is torn down again.
//!
//! The device mapping is made by cryptsetup's `veritysetup` (run by absolute
//! path with an empty environment and arguments built only from the signed
//! statement): it attaches the image file to a loop device that goes away
//! with the mapping. libcryptsetup-rs would need libclang at build time and
//! the devicemapper crate does not attach loop devices; both would do the
//! same ioctls as `veritysetup`.

use std::fs;
use std::io::{self, Read};
use std::os::unix::fs::{DirBuilderExt, MetadataExt};
use std::path::{Path, PathBuf};
use std::process::Command;

use rustix::mount::{MountFlags, UnmountFlags};

pub mod service;
use weft_manifest::AppId;
use weft_verify::image::{IMAGE_EXTENSION, ImageError, check_image_statement, signature_path_for};
use weft_verify::keys::TrustedKeys;
use weft_verify::statement::ImageParams;

/// Where the helper looks and what it runs: fixed, root-owned paths. Nothing
/// here comes from the caller or the environment.
#[derive(Clone, Debug)]
pub struct SystemPaths {
    /// Signed images, one directory per app: `<images>/<id>/<id>-<version>.{wimg,sig}`.
    pub images: PathBuf,
    /// The system's trusted public keys (`*.pub`).
    pub trusted_keys: PathBuf,
    /// Mount points: `<apps>/<id>`.
    pub apps: PathBuf,
    /// Device-mapper nodes (`/dev/mapper`).
    pub mapper: PathBuf,
    /// cryptsetup's `veritysetup`.
    pub veritysetup: PathBuf,
}

impl SystemPaths {
    /// The paths of an installed system. The `veritysetup` path can be fixed
    /// at build time (`WEFT_VERITYSETUP`, as the Nix package does).
    pub fn system() -> Self {
        Self {
            images: PathBuf::from(weft_verify::image_list::SYSTEM_IMAGES_DIR),
            trusted_keys: PathBuf::from("/etc/weft/trusted-keys"),
            apps: PathBuf::from("/run/weft/apps"),
            mapper: PathBuf::from("/dev/mapper"),
            veritysetup: PathBuf::from(
                option_env!("WEFT_VERITYSETUP").unwrap_or("/usr/sbin/veritysetup"),
            ),
        }
    }
}

/// Why a mount or unmount failed; each variant names its step.
#[derive(Debug, thiserror::Error)]
pub enum HelperError {
    /// The app id broke the naming rules; nothing was touched.
    #[error("{id:?} is not an app id: {source}")]
    BadId {
        /// What the caller passed.
        id: String,
        /// Which rule it broke.
        #[source]
        source: weft_manifest::AppIdError,
    },
    /// The app has no image in the system store.
    #[error("{id} has no image in {}", dir.display())]
    NotInstalled {
        /// The app.
        id: String,
        /// Where it was looked for.
        dir: PathBuf,
    },
    /// The store directory holds no single image.
    #[error("{}: {problem}", dir.display())]
    Store {
        /// The app's image directory.
        dir: PathBuf,
        /// What is wrong.
        problem: String,
    },
    /// The signature, trusted key, parameters, name or size check failed
    /// (the message carries every cause).
    #[error("verifying the signed statement: {0}")]
    Statement(String),
    /// The trusted keys could not be read.
    #[error("reading the trusted keys: {0}")]
    Keys(String),
    /// The statement is for another app.
    #[error("the image in {} is signed for {signed}, not {id}", dir.display())]
    WrongApp {
        /// The image directory.
        dir: PathBuf,
        /// The requested id.
        id: String,
        /// The id in the signed statement.
        signed: String,
    },
    /// A mapping of this name exists without the mount that belongs to it.
    #[error("{} exists but {} is not mounted from it: run `weft-mount-helper unmount {id}`", device.display(), mount.display())]
    Stale {
        /// The app.
        id: String,
        /// The device-mapper node.
        device: PathBuf,
        /// The mount point.
        mount: PathBuf,
    },
    /// A system operation failed.
    #[error("{step}: {source}")]
    Io {
        /// What was being done.
        step: String,
        /// Why.
        #[source]
        source: io::Error,
    },
    /// `veritysetup` failed.
    #[error("{step} (veritysetup): {message}")]
    Veritysetup {
        /// What was being done.
        step: &'static str,
        /// What it printed.
        message: String,
    },
    /// Reading through the verity mapping failed: the image does not match
    /// its signed root hash.
    #[error(
        "dm-verity refused the image: reading byte {offset} failed ({source}); its content does not match the signed root hash"
    )]
    Verity {
        /// The first byte that could not be read.
        offset: u64,
        /// The read error (EIO from dm-verity).
        #[source]
        source: io::Error,
    },
}

fn io_error(step: impl Into<String>) -> impl FnOnce(io::Error) -> HelperError {
    let step = step.into();
    move |source| HelperError::Io { step, source }
}

/// An error and its causes, `: `-separated.
fn with_causes(error: &dyn std::error::Error) -> String {
    let mut message = error.to_string();
    let mut cause = error.source();
    while let Some(next) = cause {
        message = format!("{message}: {next}");
        cause = next.source();
    }
    message
}

/// The device-mapper name of an app's mapping.
pub fn device_name(id: &AppId) -> String {
    format!("weft-{id}")
}

/// Validates `id` before anything else sees it.
pub fn parse_id(id: &str) -> Result<AppId, HelperError> {
    AppId::new(id).map_err(|source| HelperError::BadId { id: id.to_owned(), source })
}

/// The checked image of `id`: its file and the parameters its verified
/// statement gives.
#[derive(Debug)]
pub struct CheckedImage {
    /// The image file.
    pub image: PathBuf,
    /// The signed dm-verity parameters.
    pub params: ImageParams,
}

/// Finds `id`'s image in the store and checks its signature, parameters,
/// name and size. No device is touched.
pub fn check(paths: &SystemPaths, id: &AppId) -> Result<CheckedImage, HelperError> {
    let dir = paths.images.join(id.as_str());
    let entries = match fs::read_dir(&dir) {
        Ok(entries) => entries,
        Err(error) if error.kind() == io::ErrorKind::NotFound => {
            return Err(HelperError::NotInstalled { id: id.to_string(), dir });
        }
        Err(error) => return Err(io_error(format!("reading {}", dir.display()))(error)),
    };
    let mut images = Vec::new();
    for entry in entries {
        let path = entry.map_err(io_error(format!("reading {}", dir.display())))?.path();
        if path.extension().is_some_and(|extension| extension == IMAGE_EXTENSION) {
            images.push(path);
        }
    }
    let image = match images.as_slice() {
        [] => return Err(HelperError::NotInstalled { id: id.to_string(), dir }),
        [image] => image.clone(),
        _ => {
            return Err(HelperError::Store {
                dir,
                problem: format!("{} images; expected exactly one", images.len()),
            });
        }
    };
    let trusted = TrustedKeys::load(&paths.trusted_keys)
        .map_err(|error| HelperError::Keys(with_causes(&error)))?;
    let (statement, params) = check_image_statement(&image, &signature_path_for(&image), &trusted)
        .map_err(|error: ImageError| HelperError::Statement(with_causes(&error)))?;
    if statement.id != id.as_str() {
        return Err(HelperError::WrongApp { dir, id: id.to_string(), signed: statement.id });
    }
    Ok(CheckedImage { image, params })
}

/// Verifies and mounts `id`'s image; returns the mount point. Mounting an app
/// that is already mounted returns its mount point again.
pub fn mount(paths: &SystemPaths, id: &str) -> Result<PathBuf, HelperError> {
    let id = parse_id(id)?;
    let checked = check(paths, &id)?;
    let name = device_name(&id);
    let device = paths.mapper.join(&name);
    let target = paths.apps.join(id.as_str());
    if device.exists() {
        if is_mount_point(&target) {
            return Ok(target);
        }
        return Err(HelperError::Stale { id: id.to_string(), device, mount: target });
    }

    let mut undo =
        Undo { paths, name: name.clone(), target: target.clone(), mapped: false, mounted: false };
    open_verity(paths, &checked, &name)?;
    undo.mapped = true;
    read_all(&device, checked.params.data_size)?;
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o755)
        .create(&target)
        .map_err(io_error(format!("creating {}", target.display())))?;
    rustix::mount::mount(
        &device,
        &target,
        "erofs",
        MountFlags::RDONLY | MountFlags::NOSUID | MountFlags::NODEV | MountFlags::NOEXEC,
        None,
    )
    .map_err(|error| {
        io_error(format!("mounting {} at {}", device.display(), target.display()))(error.into())
    })?;
    undo.mounted = true;
    // The manifest must read back through the mount (EROFS metadata passes
    // through dm-verity too).
    fs::read(target.join(weft_manifest::MANIFEST_FILE))
        .map_err(io_error(format!("reading the manifest under {}", target.display())))?;
    undo.disarm();
    Ok(target)
}

/// Unmounts `id`'s image and removes its mapping (and so its loop device).
/// Whatever is already gone is skipped.
pub fn unmount(paths: &SystemPaths, id: &str) -> Result<(), HelperError> {
    let id = parse_id(id)?;
    let target = paths.apps.join(id.as_str());
    if is_mount_point(&target) {
        rustix::mount::unmount(&target, UnmountFlags::empty())
            .map_err(|error| io_error(format!("unmounting {}", target.display()))(error.into()))?;
    }
    match fs::remove_dir(&target) {
        Ok(()) => {}
        Err(error) if error.kind() == io::ErrorKind::NotFound => {}
        Err(error) => return Err(io_error(format!("removing {}", target.display()))(error)),
    }
    let name = device_name(&id);
    if paths.mapper.join(&name).exists() {
        veritysetup(paths, "removing the dm-verity mapping", &["close", &name])?;
    }
    Ok(())
}

/// Maps the image with every parameter taken from the signed statement: no
/// superblock is read from the (unsigned) hash area.
fn open_verity(paths: &SystemPaths, checked: &CheckedImage, name: &str) -> Result<(), HelperError> {
    let params = &checked.params;
    let image = checked.image.to_str().ok_or_else(|| HelperError::Store {
        dir: checked.image.clone(),
        problem: "the image path is not UTF-8".to_owned(),
    })?;
    // The hash area starts with veritysetup's 4 KiB superblock; the tree follows.
    let tree_offset = params.hash_offset + u64::from(params.hash_block_size);
    let args = [
        "open".to_owned(),
        "--no-superblock".to_owned(),
        format!("--hash={}", params.hash_algorithm),
        format!("--data-block-size={}", params.data_block_size),
        format!("--hash-block-size={}", params.hash_block_size),
        format!("--data-blocks={}", params.data_size / u64::from(params.data_block_size)),
        format!("--hash-offset={tree_offset}"),
        format!("--salt={}", params.salt),
        image.to_owned(),
        name.to_owned(),
        image.to_owned(),
        params.root_hash.clone(),
    ];
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    veritysetup(paths, "mapping the image with dm-verity", &args)
}

/// Runs `veritysetup` with an empty environment (no udev on the system: the
/// device nodes are made by libdevmapper itself).
fn veritysetup(paths: &SystemPaths, step: &'static str, args: &[&str]) -> Result<(), HelperError> {
    let mut command = Command::new(&paths.veritysetup);
    command.env_clear().args(args);
    if !Path::new("/run/udev/control").exists() {
        command.env("DM_DISABLE_UDEV", "1");
    }
    let output = command.output().map_err(io_error(format!(
        "{step}: cannot run {} (install cryptsetup)",
        paths.veritysetup.display()
    )))?;
    if output.status.success() {
        return Ok(());
    }
    let mut message = String::from_utf8_lossy(&output.stderr).trim().to_owned();
    if message.is_empty() {
        message = format!("exit status {}", output.status);
    }
    Err(HelperError::Veritysetup { step, message })
}

/// Reads every data block through the mapping once, so a tampered image fails
/// now with an error instead of later with EIO inside an app.
fn read_all(device: &Path, size: u64) -> Result<(), HelperError> {
    let mut file =
        fs::File::open(device).map_err(io_error(format!("opening {}", device.display())))?;
    let mut buffer = vec![0; 1 << 20];
    let mut offset = 0;
    while offset < size {
        match file.read(&mut buffer) {
            Ok(0) => break,
            Ok(read) => offset += read as u64,
            Err(source) => return Err(HelperError::Verity { offset, source }),
        }
    }
    Ok(())
}

/// Whether `path` is the root of a mount (its device differs from its parent's).
fn is_mount_point(path: &Path) -> bool {
    let (Ok(inner), Some(Ok(outer))) = (fs::metadata(path), path.parent().map(fs::metadata)) else {
        return false;
    };
    inner.dev() != outer.dev()
}

/// What a failing mount has made so far, removed on drop unless disarmed.
struct Undo<'a> {
    paths: &'a SystemPaths,
    name: String,
    target: PathBuf,
    mapped: bool,
    mounted: bool,
}

impl Undo<'_> {
    fn disarm(mut self) {
        self.mapped = false;
        self.mounted = false;
    }
}

impl Drop for Undo<'_> {
    fn drop(&mut self) {
        if !self.mapped {
            return;
        }
        if self.mounted {
            let _ = rustix::mount::unmount(&self.target, UnmountFlags::empty());
        }
        // Only an empty directory goes; a mount point in use stays.
        let _ = fs::remove_dir(&self.target);
        {
            let _ =
                veritysetup(self.paths, "removing the dm-verity mapping", &["close", &self.name]);
        }
    }
}
