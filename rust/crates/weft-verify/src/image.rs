//! App images: an EROFS filesystem with a dm-verity hash tree appended, and a
//! signature over its root hash. This module names image files, checks an
//! image against its signed statement (what the mount helper maps it with), and
//! verifies a whole image without mounting it: `veritysetup verify` in
//! userspace, then `erofs-rs` reads every file back for comparison with the
//! signed list (the build host has no device-mapper). Building images is
//! `weft-pack`'s.

use std::fs;
use std::io::{self, Read};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use erofs_rs::EroFS;
use erofs_rs::backend::SliceImage;

use crate::inspect::{PackageFiles, read_limited};
use crate::package::{PackageError, Verified, read_signature_file, verify_content};
use crate::statement::{ImageParams, Statement};
use crate::tree::{self, Entry, TreeError};

/// The image file's extension.
pub const IMAGE_EXTENSION: &str = "wimg";
/// The image signature file's extension.
pub const SIGNATURE_EXTENSION: &str = "sig";
/// dm-verity data and hash block size.
pub const VERITY_BLOCK_SIZE: u32 = 4096;
/// Largest EROFS data area read back for verification, in bytes.
pub const MAX_IMAGE_DATA_BYTES: u64 = 4 << 30;

/// `<id>-<version>.wimg`, the image file name every consumer looks for.
pub fn image_file_name(id: &str, version: &str) -> String {
    format!("{id}-{version}.{IMAGE_EXTENSION}")
}

/// `<id>-<version>.sig`, the image's signature file name.
pub fn signature_file_name(id: &str, version: &str) -> String {
    format!("{id}-{version}.{SIGNATURE_EXTENSION}")
}

/// The signature file that belongs to `image` (same stem, `.sig`).
pub fn signature_path_for(image: &Path) -> PathBuf {
    image.with_extension(SIGNATURE_EXTENSION)
}

/// Why building or verifying an image failed; each variant names the step.
#[derive(Debug, thiserror::Error)]
pub enum ImageError {
    /// The package or the image's content failed a package check.
    #[error(transparent)]
    Package(#[from] PackageError),
    /// A filesystem operation failed.
    #[error("{step}: cannot access {}", path.display())]
    Io {
        /// What was being done.
        step: &'static str,
        /// The path.
        path: PathBuf,
        /// Why.
        #[source]
        source: io::Error,
    },
    /// An external tool could not be started.
    #[error("cannot run {tool} (install {package})")]
    ToolMissing {
        /// The program.
        tool: &'static str,
        /// The Debian package that provides it.
        package: &'static str,
        /// Why.
        #[source]
        source: io::Error,
    },
    /// An external tool failed.
    #[error("{tool} failed: {message}")]
    ToolFailed {
        /// The program.
        tool: &'static str,
        /// What it printed.
        message: String,
    },
    /// The image file is not the size the statement records.
    #[error("the image is {actual} bytes but was signed at {signed} bytes (truncated or extended)")]
    Size {
        /// Signed size.
        signed: u64,
        /// Actual size.
        actual: u64,
    },
    /// The image file name is not the signed one.
    #[error("the image is named {actual} but was signed as {signed}")]
    FileName {
        /// Signed name.
        signed: String,
        /// Actual name.
        actual: String,
    },
    /// The statement's image parameters are unusable.
    #[error("the signed image parameters are invalid: {0}")]
    Params(&'static str),
    /// The dm-verity hash tree does not match the signed root hash.
    #[error("dm-verity verification failed: {0}")]
    Verity(String),
    /// The EROFS filesystem could not be read.
    #[error("cannot read the EROFS filesystem in the image")]
    Erofs(#[source] erofs_rs::Error),
}

/// Runs `command`; returns its stdout, or its stderr as the error.
pub fn run_tool(
    command: &mut Command,
    tool: &'static str,
    package: &'static str,
) -> Result<String, ImageError> {
    let output =
        command.output().map_err(|source| ImageError::ToolMissing { tool, package, source })?;
    if output.status.success() {
        Ok(String::from_utf8_lossy(&output.stdout).into_owned())
    } else {
        let stderr = String::from_utf8_lossy(&output.stderr);
        let stdout = String::from_utf8_lossy(&output.stdout);
        let message = format!("{} {}", stderr.trim(), stdout.trim());
        Err(ImageError::ToolFailed { tool, message: message.trim().replace('\n', " ") })
    }
}

/// Checks `image` against its signature file without reading its content: the
/// signature and trusted key, the image parameters, the file name and size.
/// What it returns is what a kernel may map the image with (the mount helper
/// takes the root hash and salt from here, never from the image).
pub fn check_image_statement(
    image: &Path,
    signature: &Path,
    trusted: &crate::keys::TrustedKeys,
) -> Result<(Statement, ImageParams), ImageError> {
    let text = read_signature_file(signature)?;
    let statement = Statement::verify(&text, trusted).map_err(PackageError::from)?;
    let params = statement.image.clone().ok_or(PackageError::WrongStatementKind(
        "this signature is for a package directory, not for an image",
    ))?;
    check_params(&params)?;
    let actual_name =
        image.file_name().map(|name| name.to_string_lossy().into_owned()).unwrap_or_default();
    if actual_name != params.file {
        return Err(ImageError::FileName { signed: params.file, actual: actual_name });
    }
    let size = fs::metadata(image)
        .map_err(|source| ImageError::Io {
            step: "reading the image",
            path: image.to_owned(),
            source,
        })?
        .len();
    if size != params.size {
        return Err(ImageError::Size { signed: params.size, actual: size });
    }
    Ok((statement, params))
}

/// Verifies `image` against its signature file without mounting it: the
/// signature and trusted key, the file name and size, the whole dm-verity hash
/// tree against the signed root hash (`veritysetup verify`, in userspace), then
/// every entry and file read back out of the EROFS filesystem against the
/// signed list, and finally the package content checks.
pub fn verify_image(
    image: &Path,
    signature: &Path,
    trusted: &crate::keys::TrustedKeys,
    progress: &dyn Fn(&str),
) -> Result<Verified, ImageError> {
    progress("checking the signature");
    let (statement, params) = check_image_statement(image, signature, trusted)?;

    progress("verifying the dm-verity hash tree");
    run_tool(
        Command::new("veritysetup")
            .arg("verify")
            .arg(format!("--hash-offset={}", params.hash_offset))
            .arg(image)
            .arg(image)
            .arg(&params.root_hash),
        "veritysetup",
        "cryptsetup-bin",
    )
    .map_err(|error| match error {
        ImageError::ToolFailed { message, .. } => ImageError::Verity(message),
        other => other,
    })?;

    progress("reading every file back out of the image");
    let data = fs::File::open(image)
        .and_then(|file| {
            read_limited(file.take(params.data_size), params.data_size, params.data_size)
        })
        .map_err(|source| ImageError::Io {
            step: "reading the image",
            path: image.to_owned(),
            source,
        })?;
    let erofs = EroFS::new(SliceImage::new(&data)).map_err(ImageError::Erofs)?;
    let actual = image_entries(&erofs)?;
    let files = ImageFiles { erofs: &erofs, name: image.display().to_string() };
    Ok(verify_content(statement, &actual, &files)?)
}

/// Refuses parameters that this code does not produce, before any tool sees them.
fn check_params(params: &ImageParams) -> Result<(), ImageError> {
    let is_hex = |text: &str, len| text.len() == len && text.bytes().all(|b| b.is_ascii_hexdigit());
    if params.hash_algorithm != "sha256" {
        return Err(ImageError::Params("hash algorithm is not sha256"));
    }
    if params.data_block_size != VERITY_BLOCK_SIZE || params.hash_block_size != VERITY_BLOCK_SIZE {
        return Err(ImageError::Params("block sizes are not 4096"));
    }
    if params.hash_offset != params.data_size
        || !params.data_size.is_multiple_of(u64::from(VERITY_BLOCK_SIZE))
        || params.data_size == 0
        || params.data_size > MAX_IMAGE_DATA_BYTES
        || params.size <= params.data_size
    {
        return Err(ImageError::Params("sizes and offsets do not fit together"));
    }
    if !is_hex(&params.root_hash, 64) || !is_hex(&params.salt, 64) {
        return Err(ImageError::Params("root hash or salt is not 32 hex bytes"));
    }
    Ok(())
}

/// The canonical entry list of an EROFS filesystem.
fn image_entries(erofs: &EroFS<SliceImage<'_>>) -> Result<Vec<Entry>, ImageError> {
    let mut entries = Vec::new();
    for item in erofs.walk_dir("/").map_err(ImageError::Erofs)? {
        let item = item.map_err(ImageError::Erofs)?;
        let full = item.dir_entry.path();
        let path = std::str::from_utf8(full.as_bytes())
            .ok()
            .and_then(|path| path.strip_prefix('/'))
            .filter(|path| !path.is_empty() && !path.chars().any(char::is_control))
            .ok_or_else(|| {
                PackageError::from(TreeError::BadName {
                    path: String::from_utf8_lossy(full.as_bytes()).into_owned(),
                })
            })?
            .to_owned();
        let mode = item.inode.permissions().mode() & 0o7777;
        if item.inode.is_dir() {
            entries.push(Entry::dir(path, mode));
        } else if item.inode.is_file() {
            let file = erofs.open_inode_file(item.inode).map_err(ImageError::Erofs)?;
            let (sha256, size) = tree::hash_reader(file).map_err(|source| ImageError::Io {
                step: "reading a file in the image",
                path: PathBuf::from(&path),
                source,
            })?;
            entries.push(Entry::file(path, mode, sha256, size));
        } else {
            let what = if item.inode.is_symlink() { "symlink" } else { "special file" };
            return Err(PackageError::from(TreeError::NotRegular { path, what }).into());
        }
    }
    entries.sort_by(|a, b| a.path.as_bytes().cmp(b.path.as_bytes()));
    Ok(entries)
}

/// The files of a package inside an EROFS image held in memory.
struct ImageFiles<'a, 'data> {
    erofs: &'a EroFS<SliceImage<'data>>,
    name: String,
}

impl PackageFiles for ImageFiles<'_, '_> {
    fn read(&self, path: &str, limit: u64) -> io::Result<Vec<u8>> {
        let file = self.erofs.open(format!("/{path}")).map_err(io::Error::other)?;
        read_limited(file, limit, 0)
    }

    fn check_file(&self, path: &str) -> io::Result<()> {
        self.erofs.open(format!("/{path}")).map(drop).map_err(io::Error::other)
    }

    fn location(&self) -> String {
        self.name.clone()
    }
}
