//! The canonical file list of a package: every file and directory with its
//! type, permission bits and (for files) SHA-256.

use std::fmt::Write as _;
use std::fs;
use std::io::{self, Read};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// The package's detached signature file, the one file the list leaves out.
pub const SIGNATURE_FILE: &str = "wapp.sig";
/// Most entries (files and directories) in one package.
pub const MAX_ENTRIES: usize = 100_000;
/// Largest package, in bytes of file content.
pub const MAX_PACKAGE_BYTES: u64 = 4 << 30;
/// Permission bits a package entry may carry: no setuid, setgid or sticky bit,
/// and nothing writable by group or others.
const ALLOWED_MODE_BITS: u32 = 0o755;

/// What an entry is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EntryKind {
    /// A regular file.
    File,
    /// A directory.
    Dir,
}

/// One entry of the canonical list.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    /// Path relative to the package root, `/`-separated, no `.` or `..`.
    pub path: String,
    /// File or directory.
    pub kind: EntryKind,
    /// Permission bits, e.g. `0o644`.
    #[serde(with = "octal_mode")]
    pub mode: u32,
    /// SHA-256 of the content (files only), lowercase hex.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
    /// Size of the content in bytes (files only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size: Option<u64>,
}

impl Entry {
    /// A directory entry.
    pub fn dir(path: String, mode: u32) -> Self {
        Self { path, kind: EntryKind::Dir, mode, sha256: None, size: None }
    }

    /// A file entry with its content's SHA-256 (hex) and size.
    pub fn file(path: String, mode: u32, sha256: String, size: u64) -> Self {
        Self { path, kind: EntryKind::File, mode, sha256: Some(sha256), size: Some(size) }
    }
}

/// Why a directory cannot be a package tree.
#[derive(Debug, thiserror::Error)]
pub enum TreeError {
    /// A filesystem operation failed.
    #[error("cannot read {}", path.display())]
    Io {
        /// The path.
        path: PathBuf,
        /// The error.
        #[source]
        source: io::Error,
    },
    /// The package's top-level [`SIGNATURE_FILE`] is not a regular file.
    #[error("{SIGNATURE_FILE} is a {what}; the signature must be a regular file")]
    SignatureNotAFile {
        /// What it is.
        what: &'static str,
    },
    /// A symlink, socket, device or FIFO.
    #[error("{path} is a {what}; packages hold only regular files and directories")]
    NotRegular {
        /// The package path.
        path: String,
        /// What it is.
        what: &'static str,
    },
    /// A name that is not UTF-8 or has a control character or backslash.
    #[error("{path:?} has a name that is not plain UTF-8 text")]
    BadName {
        /// The path, lossily decoded.
        path: String,
    },
    /// A setuid, setgid or sticky bit, or write permission for group or others.
    #[error(
        "{path} has mode {mode:04o}; allowed are at most 0755 (no setuid/setgid/sticky, no group/other write)"
    )]
    BadMode {
        /// The package path.
        path: String,
        /// Its mode.
        mode: u32,
    },
    /// Too many entries or too many bytes.
    #[error(
        "the package is larger than the limits ({MAX_ENTRIES} entries, {MAX_PACKAGE_BYTES} bytes)"
    )]
    TooLarge,
}

/// Lists the package in `dir`: every entry below it except the top-level
/// [`SIGNATURE_FILE`], sorted by path bytes, with file hashes. Symlinks and
/// special files anywhere are errors; nothing is followed.
pub fn scan(dir: &Path) -> Result<Vec<Entry>, TreeError> {
    let mut entries = Vec::new();
    let mut total = 0u64;
    scan_dir(dir, "", &mut entries, &mut total)?;
    entries.sort_by(|a, b| a.path.as_bytes().cmp(b.path.as_bytes()));
    Ok(entries)
}

fn scan_dir(
    dir: &Path,
    prefix: &str,
    entries: &mut Vec<Entry>,
    total: &mut u64,
) -> Result<(), TreeError> {
    let io_error = |path: &Path| {
        let path = path.to_owned();
        move |source| TreeError::Io { path, source }
    };
    for item in fs::read_dir(dir).map_err(io_error(dir))? {
        let item = item.map_err(io_error(dir))?;
        let name = item.file_name();
        let Some(name) = name.to_str().filter(|name| is_plain_name(name)) else {
            let path = format!("{prefix}{}", name.to_string_lossy());
            return Err(TreeError::BadName { path });
        };
        let path = format!("{prefix}{name}");
        let full = item.path();
        let metadata = fs::symlink_metadata(&full).map_err(io_error(&full))?;
        let file_type = metadata.file_type();
        let mode = metadata.permissions().mode() & 0o7777;
        if prefix.is_empty() && name == SIGNATURE_FILE {
            // Left out of the list, so it must be the one file it can be: a
            // directory here would carry content no signature covers.
            if file_type.is_file() {
                continue;
            }
            let what = if file_type.is_dir() { "directory" } else { "special file or symlink" };
            return Err(TreeError::SignatureNotAFile { what });
        }
        if !file_type.is_dir() && !file_type.is_file() {
            let what = if file_type.is_symlink() { "symlink" } else { "special file" };
            return Err(TreeError::NotRegular { path, what });
        }
        if mode & !ALLOWED_MODE_BITS != 0 {
            return Err(TreeError::BadMode { path, mode });
        }
        if entries.len() >= MAX_ENTRIES {
            return Err(TreeError::TooLarge);
        }
        if file_type.is_dir() {
            entries.push(Entry::dir(path.clone(), mode));
            scan_dir(&full, &format!("{path}/"), entries, total)?;
        } else {
            let (sha256, size) = hash_file(&full).map_err(io_error(&full))?;
            *total += size;
            if *total > MAX_PACKAGE_BYTES {
                return Err(TreeError::TooLarge);
            }
            entries.push(Entry::file(path, mode, sha256, size));
        }
    }
    Ok(())
}

/// A name is plain if it is not `.`/`..` and has no `/`, `\` or control characters.
fn is_plain_name(name: &str) -> bool {
    name != "."
        && name != ".."
        && !name.contains(['/', '\\'])
        && !name.chars().any(char::is_control)
}

/// The largest read buffer hashing uses.
const HASH_BUFFER_BYTES: usize = 256 * 1024;

/// The SHA-256 (hex) and size of everything `reader` yields.
pub fn hash_reader(reader: impl Read) -> io::Result<(String, u64)> {
    hash_reader_with(reader, HASH_BUFFER_BYTES)
}

/// [`hash_reader`] reading through a buffer of `buffer_bytes`.
fn hash_reader_with(mut reader: impl Read, buffer_bytes: usize) -> io::Result<(String, u64)> {
    let mut hasher = Sha256::new();
    let mut buffer = vec![0u8; buffer_bytes];
    let mut size = 0u64;
    loop {
        let read = match reader.read(&mut buffer) {
            Ok(0) => break,
            Ok(read) => read,
            Err(error) if error.kind() == io::ErrorKind::Interrupted => continue,
            Err(error) => return Err(error),
        };
        hasher.update(&buffer[..read]);
        size += read as u64;
    }
    Ok((hex::encode(hasher.finalize()), size))
}

/// A file's SHA-256 and size, read through a buffer no larger than the file
/// (packages are mostly small files: a zeroed 256 KiB buffer for each cost
/// more than hashing them).
fn hash_file(path: &Path) -> io::Result<(String, u64)> {
    let file = fs::File::open(path)?;
    let len = usize::try_from(file.metadata()?.len()).unwrap_or(usize::MAX);
    hash_reader_with(file, len.saturating_add(1).min(HASH_BUFFER_BYTES))
}

/// The SHA-256 (hex) of the canonical text of `entries`: one line per entry,
/// `<kind> <mode as 4 octal digits> <sha256 or -> <size or -> <path>\n`, in the
/// given (sorted) order.
pub fn list_digest(entries: &[Entry]) -> String {
    let mut text = String::new();
    for entry in entries {
        let kind = match entry.kind {
            EntryKind::File => "file",
            EntryKind::Dir => "dir",
        };
        let sha256 = entry.sha256.as_deref().unwrap_or("-");
        let size = entry.size.map_or_else(|| "-".to_owned(), |size| size.to_string());
        // Writing to a String cannot fail.
        let _ = writeln!(text, "{kind} {:04o} {sha256} {size} {}", entry.mode, entry.path);
    }
    hex::encode(Sha256::digest(text.as_bytes()))
}

/// How a package's actual entries differ from the signed ones.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum TreeMismatch {
    /// A signed entry is not there.
    #[error("{0} is missing")]
    Missing(String),
    /// An entry is there that was not signed.
    #[error("{0} was added after signing")]
    Added(String),
    /// A file became a directory or the other way round.
    #[error("{0} changed type")]
    Kind(String),
    /// Permission bits changed.
    #[error("{path} changed mode from {signed:04o} to {actual:04o}")]
    Mode {
        /// The entry.
        path: String,
        /// The signed mode.
        signed: u32,
        /// The mode found.
        actual: u32,
    },
    /// File content changed.
    #[error("{0} changed content (SHA-256 differs)")]
    Content(String),
}

/// Compares the entries found with the signed ones; the first difference, in
/// path order, is the error.
pub fn compare(signed: &[Entry], actual: &[Entry]) -> Result<(), TreeMismatch> {
    let mut signed_iter = signed.iter().peekable();
    let mut actual_iter = actual.iter().peekable();
    loop {
        match (signed_iter.peek(), actual_iter.peek()) {
            (None, None) => return Ok(()),
            (Some(expected), None) => return Err(TreeMismatch::Missing(expected.path.clone())),
            (None, Some(found)) => return Err(TreeMismatch::Added(found.path.clone())),
            (Some(expected), Some(found)) => {
                match expected.path.as_bytes().cmp(found.path.as_bytes()) {
                    std::cmp::Ordering::Less => {
                        return Err(TreeMismatch::Missing(expected.path.clone()));
                    }
                    std::cmp::Ordering::Greater => {
                        return Err(TreeMismatch::Added(found.path.clone()));
                    }
                    std::cmp::Ordering::Equal => {}
                }
                let path = expected.path.clone();
                if expected.kind != found.kind {
                    return Err(TreeMismatch::Kind(path));
                }
                if expected.mode != found.mode {
                    return Err(TreeMismatch::Mode {
                        path,
                        signed: expected.mode,
                        actual: found.mode,
                    });
                }
                if expected.sha256 != found.sha256 || expected.size != found.size {
                    return Err(TreeMismatch::Content(path));
                }
                signed_iter.next();
                actual_iter.next();
            }
        }
    }
}

/// Serializes modes as 4-digit octal strings (`"0644"`), as people read them.
mod octal_mode {
    use serde::{Deserialize, Deserializer, Serializer, de};

    pub fn serialize<S: Serializer>(mode: &u32, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&format!("{mode:04o}"))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<u32, D::Error> {
        let text = String::deserialize(deserializer)?;
        if text.len() != 4 {
            return Err(de::Error::custom(format!("mode {text:?} is not 4 octal digits")));
        }
        u32::from_str_radix(&text, 8)
            .map_err(|_| de::Error::custom(format!("mode {text:?} is not 4 octal digits")))
    }
}
