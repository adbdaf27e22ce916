//! Inspecting a package directory: manifest, component and UI, checked together.

use std::fmt;
use std::fs;
use std::io::{self, Read};
use std::path::{Path, PathBuf};

use weft_manifest::{
    ImportDenied, ImportRequirement, LoadError, MANIFEST_FILE, Manifest, PackagePath,
    import_requirement,
};

use crate::component::{ComponentError, ComponentInfo, MAX_COMPONENT_BYTES, read_component};

/// A package that passed inspection.
#[derive(Clone, Debug)]
pub struct Inspection {
    /// The package directory.
    pub dir: PathBuf,
    /// Its validated manifest.
    pub manifest: Manifest,
    /// What its component declares.
    pub component: ComponentInfo,
}

/// Why a package failed inspection; each variant names the step.
#[derive(Debug, thiserror::Error)]
pub enum InspectError {
    /// The manifest is missing or invalid.
    #[error("manifest check failed")]
    Manifest(#[from] LoadError),
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

/// Inspects the package in `dir`: validates `wapp.toml`, reads and validates the
/// component it names, checks every import against the granted capabilities and
/// checks that the UI entry exists. Files are opened without following symlinks.
pub fn inspect(dir: &Path) -> Result<Inspection, InspectError> {
    let manifest = Manifest::load(&dir.join(MANIFEST_FILE))?;
    let bytes = read_component_file(dir, &manifest.module).map_err(|source| {
        InspectError::Open { path: manifest.module.clone(), field: "runtime.module", source }
    })?;
    let component = read_component(&bytes)
        .map_err(|source| InspectError::Component { path: manifest.module.clone(), source })?;
    manifest.check_imports(component.imports.iter().map(String::as_str))?;
    open_package_file(dir, &manifest.ui_entry).map_err(|source| InspectError::Open {
        path: manifest.ui_entry.clone(),
        field: "ui.entry",
        source,
    })?;
    Ok(Inspection { dir: dir.to_owned(), manifest, component })
}

/// Opens the regular file at `path` inside `dir`, refusing symlinks at every
/// step so a package cannot point outside itself.
fn open_package_file(dir: &Path, path: &PackagePath) -> io::Result<fs::File> {
    let mut current = dir.to_owned();
    for component in path.as_path().components() {
        current.push(component);
        if fs::symlink_metadata(&current)?.file_type().is_symlink() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("{} is a symlink; packages hold only regular files", current.display()),
            ));
        }
    }
    let file = fs::File::open(&current)?;
    if !file.metadata()?.is_file() {
        return Err(io::Error::new(io::ErrorKind::InvalidData, "not a regular file"));
    }
    Ok(file)
}

/// Reads the component at `path` inside `dir`, at most [`MAX_COMPONENT_BYTES`]
/// (one byte more is read so that an oversized file is caught, not truncated).
fn read_component_file(dir: &Path, path: &PackagePath) -> io::Result<Vec<u8>> {
    let mut bytes = Vec::new();
    open_package_file(dir, path)?.take(MAX_COMPONENT_BYTES as u64 + 1).read_to_end(&mut bytes)?;
    Ok(bytes)
}

impl fmt::Display for Inspection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let manifest = &self.manifest;
        writeln!(f, "package       {} {} ({:?})", manifest.id, manifest.version, manifest.name)?;
        writeln!(f, "directory     {}", self.dir.display())?;
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
