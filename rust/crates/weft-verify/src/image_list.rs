//! The system's app images as a launcher lists them, without mounting any:
//! each `<dir>/<id>/<id>-<version>.{wimg,sig}` is checked against its
//! signature ([`check_image_statement`]: trusted key, parameters, name, size)
//! and its manifest is read out of the EROFS filesystem and checked against
//! the signed hash of `wapp.toml`. The whole image is verified when the mount
//! helper maps it through dm-verity at launch.

use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};

use erofs_rs::EroFS;
use erofs_rs::backend::SliceImage;
use sha2::{Digest, Sha256};
use weft_manifest::{MANIFEST_FILE, MAX_MANIFEST_BYTES, Manifest};

use crate::image::{IMAGE_EXTENSION, ImageError, check_image_statement, signature_path_for};
use crate::inspect::read_limited;
use crate::keys::TrustedKeys;
use crate::statement::Statement;
use crate::store::app_dirs;

/// Where an installed system keeps its app images (the mount helper's store).
pub const SYSTEM_IMAGES_DIR: &str = "/var/lib/weft/images";
/// The most of an image's filesystem read to list it; a larger app is listed
/// with that reason and still launches by id.
pub const MAX_LISTED_DATA_BYTES: u64 = 256 << 20;

/// One app directory of an image store.
#[derive(Debug)]
pub struct ListedImage {
    /// The app's directory (`<dir>/<id>`).
    pub path: PathBuf,
    /// Its signed statement and manifest, or why they do not check out.
    pub checked: Result<(Statement, Manifest), ListError>,
}

/// Why an image could not be listed.
#[derive(Debug, thiserror::Error)]
pub enum ListError {
    /// The directory does not hold exactly one image.
    #[error("{found} images in {}; expected exactly one", dir.display())]
    Images {
        /// The app's directory.
        dir: PathBuf,
        /// How many `.wimg` files it holds.
        found: usize,
    },
    /// The image or its signature failed a check.
    #[error(transparent)]
    Image(#[from] ImageError),
    /// The image's manifest is missing, too large, unsigned, altered or invalid.
    #[error("{MANIFEST_FILE} in {}: {problem}", image.display())]
    Manifest {
        /// The image.
        image: PathBuf,
        /// What is wrong with it.
        problem: String,
    },
}

/// Every app directory in `dir` (sorted; names starting with `.` skipped),
/// each checked as the module says.
pub fn list_images(dir: &Path, trusted: &TrustedKeys) -> Vec<ListedImage> {
    app_dirs(dir)
        .into_iter()
        .map(|path| {
            let checked = check_listed(&path, trusted);
            ListedImage { path, checked }
        })
        .collect()
}

fn check_listed(dir: &Path, trusted: &TrustedKeys) -> Result<(Statement, Manifest), ListError> {
    let images: Vec<PathBuf> = fs::read_dir(dir)
        .map(|entries| {
            entries
                .flatten()
                .map(|entry| entry.path())
                .filter(|path| path.extension().is_some_and(|ext| ext == IMAGE_EXTENSION))
                .collect()
        })
        .unwrap_or_default();
    let [image] = images.as_slice() else {
        return Err(ListError::Images { dir: dir.to_owned(), found: images.len() });
    };
    let (statement, params) = check_image_statement(image, &signature_path_for(image), trusted)?;
    let problem = |problem: String| ListError::Manifest { image: image.clone(), problem };
    if params.data_size > MAX_LISTED_DATA_BYTES {
        return Err(problem(format!(
            "not read: the image's filesystem is {} bytes, more than the {MAX_LISTED_DATA_BYTES} \
             read to list an app",
            params.data_size
        )));
    }
    let data = fs::File::open(image)
        .and_then(|file| {
            read_limited(file.take(params.data_size), params.data_size, params.data_size)
        })
        .map_err(|error| problem(format!("cannot read the image: {error}")))?;
    let erofs = EroFS::new(SliceImage::new(&data))
        .map_err(|error| problem(format!("cannot read the EROFS filesystem: {error}")))?;
    let text = erofs
        .open(format!("/{MANIFEST_FILE}"))
        .map_err(|error| problem(format!("not in the image: {error}")))
        .and_then(|file| {
            read_limited(file, MAX_MANIFEST_BYTES as u64, 0)
                .map_err(|error| problem(format!("cannot read it: {error}")))
        })?;
    let signed = statement.files.iter().find(|entry| entry.path == MANIFEST_FILE);
    let actual = hex::encode(Sha256::digest(&text));
    if signed.and_then(|entry| entry.sha256.as_deref()) != Some(actual.as_str()) {
        return Err(problem("its content is not the signed one".into()));
    }
    let text = String::from_utf8(text).map_err(|_| problem("not UTF-8".into()))?;
    let manifest = Manifest::parse(&text).map_err(|error| problem(error.to_string()))?;
    if manifest.id.as_str() != statement.id {
        return Err(problem(format!(
            "declares {}, but the image is signed for {}",
            manifest.id, statement.id
        )));
    }
    Ok((statement, manifest))
}
