//! Building app images: the package as a reproducible EROFS filesystem
//! (`mkfs.erofs`) with a dm-verity hash tree appended (`veritysetup format`),
//! and a signature over its root hash. Checking and verifying images is
//! `weft_verify::image`, re-exported here.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use ed25519_dalek::SigningKey;
use sha2::{Digest, Sha256};
pub use weft_verify::image::*;
use weft_verify::package::{PackageError, statement_for, write_atomically};
use weft_verify::statement::{ImageParams, Statement};
use weft_verify::tree::{self, Entry, EntryKind};

/// A built image and its signature.
#[derive(Clone, Debug)]
pub struct BuiltImage {
    /// `<out>/<id>-<version>.wimg`.
    pub image: PathBuf,
    /// `<out>/<id>-<version>.sig`.
    pub signature: PathBuf,
    /// The signed statement.
    pub statement: Statement,
}

/// Builds the package in `dir` into `<out>/<id>-<version>.wimg` and signs it with
/// `key` into `<out>/<id>-<version>.sig`. The same package always gives the same
/// bytes: the EROFS UUID, the verity salt and UUID derive from the file list,
/// timestamps are 0, owners root, modes the signed ones, no xattrs.
/// `progress` is told each step's name.
pub fn build_image(
    dir: &Path,
    key: &SigningKey,
    out: &Path,
    progress: &dyn Fn(&str),
) -> Result<BuiltImage, ImageError> {
    progress("checking and hashing the package");
    let (mut statement, _) = statement_for(dir, key)?;
    let io_error = |step, path: &Path| {
        let path = path.to_owned();
        move |source| ImageError::Io { step, path, source }
    };
    fs::create_dir_all(out).map_err(io_error("creating the output directory", out))?;
    let work = tempfile::Builder::new()
        .prefix(".weft-image-")
        .tempdir_in(out)
        .map_err(io_error("creating a work directory", out))?;
    let stage = work.path().join("stage");

    progress("staging the files with their signed modes");
    stage_files(dir, &statement.files, &stage)?;

    progress("building the EROFS filesystem");
    let derived = |purpose: &str| Sha256::digest(format!("{purpose}\0{}", statement.files_sha256));
    let erofs_uuid = uuid_from(&derived("weft-erofs-uuid-v1"));
    let data = work.path().join("data.erofs");
    run_tool(
        Command::new("mkfs.erofs")
            .args(["--quiet", "-zlz4", "-T", "0", "-U", &erofs_uuid, "--all-root", "-x-1"])
            .arg(&data)
            .arg(&stage),
        "mkfs.erofs",
        "erofs-utils",
    )?;

    progress("computing the dm-verity hash tree");
    let salt = hex::encode(derived("weft-verity-salt-v1"));
    let hash_tree = work.path().join("hash.tree");
    let output = run_tool(
        Command::new("veritysetup")
            .arg("format")
            .arg("--hash=sha256")
            .arg(format!("--data-block-size={VERITY_BLOCK_SIZE}"))
            .arg(format!("--hash-block-size={VERITY_BLOCK_SIZE}"))
            .arg(format!("--salt={salt}"))
            .arg(format!("--uuid={}", uuid_from(&derived("weft-verity-uuid-v1"))))
            .arg(&data)
            .arg(&hash_tree),
        "veritysetup",
        "cryptsetup-bin",
    )?;
    let root_hash = output
        .lines()
        .find_map(|line| line.strip_prefix("Root hash:"))
        .map(|hash| hash.trim().to_owned())
        .ok_or_else(|| ImageError::ToolFailed {
            tool: "veritysetup",
            message: format!("no root hash in its output: {output}"),
        })?;

    progress("writing the image and its signature");
    let data_size = fs::metadata(&data).map_err(io_error("reading the EROFS size", &data))?.len();
    let mut image_bytes = fs::read(&data).map_err(io_error("reading the EROFS image", &data))?;
    image_bytes
        .extend(fs::read(&hash_tree).map_err(io_error("reading the hash tree", &hash_tree))?);
    let file = image_file_name(&statement.id, &statement.version);
    statement.image = Some(ImageParams {
        file: file.clone(),
        size: image_bytes.len() as u64,
        data_size,
        hash_offset: data_size,
        hash_algorithm: "sha256".to_owned(),
        data_block_size: VERITY_BLOCK_SIZE,
        hash_block_size: VERITY_BLOCK_SIZE,
        salt,
        root_hash,
        erofs_uuid,
    });
    let image = out.join(&file);
    write_atomically(&image, &image_bytes).map_err(io_error("writing the image", &image))?;
    let signature = out.join(signature_file_name(&statement.id, &statement.version));
    write_atomically(&signature, statement.sign(key).as_bytes())
        .map_err(io_error("writing the signature", &signature))?;
    Ok(BuiltImage { image, signature, statement })
}

/// Copies the listed entries of `dir` into `stage` with exactly their signed
/// modes, re-hashing every file as it is copied so the image holds what the
/// statement lists even if the source changes meanwhile.
fn stage_files(dir: &Path, entries: &[Entry], stage: &Path) -> Result<(), ImageError> {
    let io_error = |step, path: &Path| {
        let path = path.to_owned();
        move |source| ImageError::Io { step, path, source }
    };
    fs::create_dir(stage).map_err(io_error("staging", stage))?;
    fs::set_permissions(stage, fs::Permissions::from_mode(0o755))
        .map_err(io_error("staging", stage))?;
    for entry in entries {
        let target = stage.join(&entry.path);
        match entry.kind {
            EntryKind::Dir => fs::create_dir(&target).map_err(io_error("staging", &target))?,
            EntryKind::File => {
                let source = dir.join(&entry.path);
                let bytes = fs::read(&source).map_err(io_error("staging", &source))?;
                let (sha256, _) =
                    tree::hash_reader(&bytes[..]).map_err(io_error("staging", &source))?;
                if entry.sha256.as_deref() != Some(sha256.as_str()) {
                    return Err(PackageError::Mismatch(tree::TreeMismatch::Content(
                        entry.path.clone(),
                    ))
                    .into());
                }
                fs::write(&target, bytes).map_err(io_error("staging", &target))?;
            }
        }
    }
    // Modes last, so read-only directories do not block their own content.
    for entry in entries.iter().rev() {
        let target = stage.join(&entry.path);
        fs::set_permissions(&target, fs::Permissions::from_mode(entry.mode))
            .map_err(io_error("staging", &target))?;
    }
    Ok(())
}

/// Formats 16 bytes of `digest` as an RFC 4122 version-4 UUID.
fn uuid_from(digest: &[u8]) -> String {
    let mut bytes: [u8; 16] = digest[..16].try_into().expect("a SHA-256 digest has 32 bytes");
    bytes[6] = (bytes[6] & 0x0f) | 0x40;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    let hex = hex::encode(bytes);
    format!("{}-{}-{}-{}-{}", &hex[..8], &hex[8..12], &hex[12..16], &hex[16..20], &hex[20..])
}
