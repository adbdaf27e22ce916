//! The store of precompiled components as the installer leaves it and its
//! readers check it: each artifact `<component sha256>-<engine tag>.cwasm`
//! beside the SHA-256 of its bytes, `<same name>.sha256`, both read-only and
//! replaced only by rename. The installer writes them (`weft-aot`); weft-appd
//! checks an artifact once per file and hands it to the runtime open, and a
//! runtime started by hand checks it itself.

use std::fs::{self, File};
use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

/// Why no checked artifact could be opened.
#[derive(Debug, thiserror::Error)]
pub enum ArtifactError {
    /// No artifact was ever stored for this component.
    #[error("no precompiled artifact at {}", path.display())]
    Missing {
        /// Where it would be.
        path: PathBuf,
    },
    /// An artifact is stored but is not what was recorded for it (tampered,
    /// truncated), or cannot be read.
    #[error("stored artifact {} rejected: {source}", path.display())]
    Rejected {
        /// The artifact.
        path: PathBuf,
        /// Why.
        #[source]
        source: io::Error,
    },
}

/// Which file an open artifact is: a file replaced by rename is another
/// inode, and one changed in place (which the store never does) changes its
/// size or times.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FileIdentity {
    device: u64,
    inode: u64,
    size: u64,
    modified_ns: i128,
    changed_ns: i128,
}

impl FileIdentity {
    /// The identity of the file `metadata` describes.
    pub fn of(metadata: &fs::Metadata) -> Self {
        let nanos =
            |seconds: i64, nanos: i64| i128::from(seconds) * 1_000_000_000 + i128::from(nanos);
        Self {
            device: metadata.dev(),
            inode: metadata.ino(),
            size: metadata.size(),
            modified_ns: nanos(metadata.mtime(), metadata.mtime_nsec()),
            changed_ns: nanos(metadata.ctime(), metadata.ctime_nsec()),
        }
    }

    /// Whether `other` is the same file (device and inode), whatever its times.
    pub fn same_file(&self, other: &Self) -> bool {
        (self.device, self.inode) == (other.device, other.inode)
    }
}

/// Opens the artifact at `path` and checks its bytes against the SHA-256
/// recorded beside it; returns it open, with its identity.
pub fn open_checked(path: &Path) -> Result<(File, FileIdentity), ArtifactError> {
    let rejected = |source| ArtifactError::Rejected { path: path.to_owned(), source };
    let artifact = match File::open(path) {
        Ok(artifact) => artifact,
        Err(error) if error.kind() == io::ErrorKind::NotFound => {
            return Err(ArtifactError::Missing { path: path.to_owned() });
        }
        Err(error) => return Err(rejected(error)),
    };
    let metadata = artifact.metadata().map_err(rejected)?;
    check_recorded_digest(&artifact, &metadata, path).map_err(rejected)?;
    Ok((artifact, FileIdentity::of(&metadata)))
}

/// Checks the open `artifact` against the digest recorded beside it (`path`
/// with the extension `sha256`), hashing it where the page cache holds it.
fn check_recorded_digest(artifact: &File, metadata: &fs::Metadata, path: &Path) -> io::Result<()> {
    let recorded = fs::read_to_string(path.with_extension("sha256"))?;
    if digest_of_file(artifact, metadata.len())? != recorded.trim() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "the stored artifact does not match its recorded SHA-256",
        ));
    }
    Ok(())
}

/// The SHA-256 of the first `len` bytes of an open file, hex, read through a
/// read-only mapping.
fn digest_of_file(file: &File, len: u64) -> io::Result<String> {
    use rustix::mm::{MapFlags, ProtFlags, mmap, munmap};
    let len = usize::try_from(len).map_err(io::Error::other)?;
    if len == 0 {
        return Ok(hex::encode(Sha256::digest([])));
    }
    #[expect(unsafe_code, reason = "mapping a file is unsafe in Rust's terms")]
    // SAFETY: a fresh private read-only mapping of `len` bytes of an open
    // file, at an address the kernel picks; it is read below and unmapped
    // before this function returns, and no reference to it outlives that.
    // Artifacts are replaced by rename, never rewritten or truncated in
    // place, so the bytes do not change while mapped.
    let digest = unsafe {
        let map = mmap(
            std::ptr::null_mut(),
            len,
            ProtFlags::READ,
            MapFlags::PRIVATE | MapFlags::POPULATE,
            file,
            0,
        )?;
        let digest = Sha256::digest(std::slice::from_raw_parts(map.cast::<u8>(), len));
        munmap(map, len)?;
        digest
    };
    Ok(hex::encode(digest))
}

/// The SHA-256 an artifact's record holds for `bytes`: what the installer
/// writes beside the artifact.
pub fn recorded_digest(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store(dir: &Path, bytes: &[u8], recorded: &[u8]) -> PathBuf {
        let path = dir.join("artifact.cwasm");
        fs::write(&path, bytes).unwrap();
        fs::write(path.with_extension("sha256"), recorded).unwrap();
        path
    }

    #[test]
    fn an_artifact_matching_its_record_opens_and_any_other_is_rejected() {
        let dir = tempfile::tempdir().unwrap();
        let path = store(dir.path(), b"machine code", recorded_digest(b"machine code").as_bytes());
        let (_, identity) = open_checked(&path).unwrap();
        assert!(identity.same_file(&FileIdentity::of(&fs::metadata(&path).unwrap())));

        let tampered =
            store(dir.path(), b"machine code!", recorded_digest(b"machine code").as_bytes());
        let error = open_checked(&tampered).unwrap_err();
        assert!(error.to_string().contains("does not match its recorded SHA-256"), "{error}");
        fs::remove_file(tampered.with_extension("sha256")).unwrap();
        assert!(matches!(open_checked(&tampered), Err(ArtifactError::Rejected { .. })));
        fs::remove_file(&tampered).unwrap();
        assert!(matches!(open_checked(&tampered), Err(ArtifactError::Missing { .. })));
    }
}
