//! Checking a package's content: manifest, component and UI, checked together.

use std::fmt;
use std::fs;
use std::io::{self, Read};
use std::path::{Path, PathBuf};

use weft_manifest::{
    ImportDenied, ImportRequirement, MANIFEST_FILE, MAX_MANIFEST_BYTES, Manifest, ManifestError,
    PackagePath, import_requirement,
};

use crate::component::{ComponentError, ComponentInfo, MAX_COMPONENT_BYTES, read_component};

/// Read access to the files of a package, wherever they are stored: a
/// directory, or an EROFS image read back in memory.
pub trait PackageFiles {
    /// Reads the regular file at `path`, failing if it is larger than `limit` bytes.
    fn read(&self, path: &str, limit: u64) -> io::Result<Vec<u8>>;
    /// Succeeds if `path` is a regular file.
    fn check_file(&self, path: &str) -> io::Result<()>;
    /// Where the files are, for messages.
    fn location(&self) -> String;
}

/// A package that passed inspection.
#[derive(Clone, Debug)]
pub struct Inspection {
    /// Where the package is.
    pub location: String,
    /// Its validated manifest.
    pub manifest: Manifest,
    /// What its component declares.
    pub component: ComponentInfo,
}

/// Why a package failed inspection; each variant names the step.
#[derive(Debug, thiserror::Error)]
pub enum InspectError {
    /// `wapp.toml` could not be read.
    #[error("cannot read {MANIFEST_FILE} in {location}")]
    ManifestRead {
        /// Where the package is.
        location: String,
        /// Why.
        #[source]
        source: io::Error,
    },
    /// `wapp.toml` is invalid.
    #[error("invalid {MANIFEST_FILE} in {location}")]
    Manifest {
        /// Where the package is.
        location: String,
        /// What is wrong.
        #[source]
        source: Box<ManifestError>,
    },
    /// A file the manifest names cannot be opened inside the package.
    #[error("cannot open {path} (named by {field}) in the package")]
    Open {
        /// The package path.
        path: PackagePath,
        /// The manifest field naming it.
        field: &'static str,
        /// Why.
        #[source]
        source: io::Error,
    },
    /// The component is not acceptable.
    #[error("component check failed for {path}")]
    Component {
        /// The package path of the component.
        path: PackagePath,
        /// Why.
        #[source]
        source: ComponentError,
    },
    /// The component imports something the manifest does not allow.
    #[error("capability check failed")]
    Imports(#[from] ImportDenied),
}

/// Inspects the package in directory `dir`; see [`inspect_files`].
pub fn inspect(dir: &Path) -> Result<Inspection, InspectError> {
    inspect_files(&DirFiles::new(dir))
}

/// Inspects a package: validates `wapp.toml`, reads and validates the component
/// it names, checks every import against the granted capabilities and checks
/// that the UI entry is a file.
pub fn inspect_files(files: &dyn PackageFiles) -> Result<Inspection, InspectError> {
    let location = files.location();
    let manifest = read_manifest(files)?;
    let bytes =
        files.read(manifest.module.as_str(), MAX_COMPONENT_BYTES as u64).map_err(|source| {
            InspectError::Open { path: manifest.module.clone(), field: "runtime.module", source }
        })?;
    let component = read_component(&bytes)
        .map_err(|source| InspectError::Component { path: manifest.module.clone(), source })?;
    manifest.check_imports(component.imports.iter().map(String::as_str))?;
    files.check_file(manifest.ui_entry.as_str()).map_err(|source| InspectError::Open {
        path: manifest.ui_entry.clone(),
        field: "ui.entry",
        source,
    })?;
    Ok(Inspection { location, manifest, component })
}

/// Reads and validates the package's `wapp.toml`.
pub fn read_manifest(files: &dyn PackageFiles) -> Result<Manifest, InspectError> {
    let bytes = files
        .read(MANIFEST_FILE, MAX_MANIFEST_BYTES as u64)
        .map_err(|source| InspectError::ManifestRead { location: files.location(), source })?;
    parse_manifest(&bytes, files)
}

/// Parses the manifest `bytes` read from `files` (which name the package in
/// errors).
pub fn parse_manifest(bytes: &[u8], files: &dyn PackageFiles) -> Result<Manifest, InspectError> {
    let text = std::str::from_utf8(bytes).map_err(|_| InspectError::ManifestRead {
        location: files.location(),
        source: io::Error::new(io::ErrorKind::InvalidData, "not UTF-8"),
    })?;
    Manifest::parse(text).map_err(|source| InspectError::Manifest {
        location: files.location(),
        source: Box::new(source),
    })
}

/// The files of a package directory, opened without following symlinks.
pub struct DirFiles {
    dir: PathBuf,
}

impl DirFiles {
    /// The package in `dir`.
    pub fn new(dir: &Path) -> Self {
        Self { dir: dir.to_owned() }
    }

    /// Opens the regular file at `path` inside the directory, refusing symlinks
    /// at every step so a package cannot point outside itself.
    fn open(&self, path: &str) -> io::Result<(fs::File, u64)> {
        let mut current = self.dir.clone();
        for component in Path::new(path).components() {
            current.push(component);
            if fs::symlink_metadata(&current)?.file_type().is_symlink() {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("{} is a symlink; packages hold only regular files", current.display()),
                ));
            }
        }
        let file = fs::File::open(&current)?;
        let metadata = file.metadata()?;
        if !metadata.is_file() {
            return Err(io::Error::new(io::ErrorKind::InvalidData, "not a regular file"));
        }
        Ok((file, metadata.len()))
    }
}

impl PackageFiles for DirFiles {
    fn read(&self, path: &str, limit: u64) -> io::Result<Vec<u8>> {
        let (file, len) = self.open(path)?;
        read_limited(file, limit, len)
    }

    fn check_file(&self, path: &str) -> io::Result<()> {
        self.open(path).map(drop)
    }

    fn location(&self) -> String {
        self.dir.display().to_string()
    }
}

/// Reads all of `reader`, failing if it yields more than `limit` bytes (one
/// byte more is read so an oversized file is caught, not truncated).
pub(crate) fn read_limited(reader: impl Read, limit: u64, expected: u64) -> io::Result<Vec<u8>> {
    // Room for what is expected and the byte past the limit: one read for a
    // file of the size it says, not a series of growing ones.
    let mut bytes = Vec::with_capacity(expected.min(limit) as usize + 1);
    reader.take(limit + 1).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > limit {
        return Err(io::Error::new(
            io::ErrorKind::FileTooLarge,
            format!("larger than the limit of {limit} bytes"),
        ));
    }
    Ok(bytes)
}

impl fmt::Display for Inspection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let manifest = &self.manifest;
        writeln!(f, "package       {} {} ({:?})", manifest.id, manifest.version, manifest.name)?;
        writeln!(f, "location      {}", self.location)?;
        writeln!(
            f,
            "component     {} ({} bytes, valid wasm32-wasip2 component)",
            manifest.module, self.component.size
        )?;
        writeln!(f, "ui entry      {}", manifest.ui_entry)?;
        if manifest.capabilities.is_empty() {
            writeln!(f, "capabilities  none")?;
        }
        for (index, capability) in manifest.capabilities.iter().enumerate() {
            let label = if index == 0 { "capabilities" } else { "" };
            writeln!(f, "{label:<13} {capability}")?;
        }
        for (index, import) in self.component.imports.iter().enumerate() {
            let label = if index == 0 { "imports" } else { "" };
            let why = match import_requirement(import) {
                ImportRequirement::Always => "every app".to_owned(),
                ImportRequirement::Capability(kind) => format!("granted by {kind}"),
                ImportRequirement::Never(reason) => format!("never: {reason}"),
            };
            writeln!(f, "{label:<13} {import:<40} {why}")?;
        }
        for (index, export) in self.component.exports.iter().enumerate() {
            let label = if index == 0 { "exports" } else { "" };
            writeln!(f, "{label:<13} {export}")?;
        }
        let limit = |value: Option<String>| value.unwrap_or_else(|| "system default".to_owned());
        writeln!(
            f,
            "limits        memory {}, cpu {}",
            limit(manifest.limits.memory_bytes.map(|bytes| format!("{} MiB", bytes >> 20))),
            limit(manifest.limits.cpu_percent.map(|percent| format!("{percent}%"))),
        )?;
        write!(f, "verdict       OK: every import is allowed by the manifest")
    }
}
