//! The `wapp.toml` schema of WEFT OS apps.
//!
//! Every app package carries a `wapp.toml`:
//!
//! ```toml
//! [package]
//! id = "org.weft.hello"          # reverse-DNS app id, see `AppId`
//! name = "Hello"
//! version = "0.1.0"              # semantic version
//! capabilities = ["sys:notifications", "net:fetch:https://example.org"]
//!
//! [runtime]
//! module = "app.wasm"            # the app's component, relative to the package
//!
//! [ui]
//! entry = "ui/index.html"        # the page the app shell opens
//!
//! [limits]                       # optional budgets; system defaults otherwise
//! memory = "64MiB"
//! cpu = "50%"
//! ```
//!
//! [`Manifest::parse`] validates all of it and returns typed values: an [`AppId`]
//! that is always one safe path component, [`Capability`] values that no later
//! component parses again, package-relative [`PackagePath`]s and [`Limits`]. Every
//! error names the field, the bad value and its line and column.
//!
//! [`import_requirement`] and [`Manifest::check_imports`] tie capabilities to the
//! component imports they allow, for the runtime and the packager alike.

mod app_id;
mod capability;
mod error;
mod imports;
mod limits;
mod package_path;
mod shown_text;

use std::ops::Range;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use toml::Spanned;

pub use crate::app_id::{AppId, AppIdError, MAX_APP_ID_LABELS, MAX_APP_ID_LEN, MIN_APP_ID_LABELS};
pub use crate::capability::{
    Access, Capability, CapabilityError, CapabilityKind, Directory, Origin, OriginError, Scheme,
};
pub use crate::error::{Location, ManifestError, Problem};
pub use crate::imports::{ImportRequirement, import_requirement};
pub use crate::limits::{LimitError, Limits, MAX_CPU_PERCENT, MAX_MEMORY_BYTES, MIN_MEMORY_BYTES};
pub use crate::package_path::{PackagePath, PackagePathError};
pub use crate::shown_text::{
    Shown, UnshownChar, check_shown_text, looks_like, name_skeleton, neutralise_shown_text,
};

/// The file name of the manifest inside a package.
pub const MANIFEST_FILE: &str = "wapp.toml";
/// Largest manifest accepted, in bytes. Real manifests are well under 4 KiB.
pub const MAX_MANIFEST_BYTES: usize = 64 * 1024;
/// Longest display name, in characters.
pub const MAX_NAME_CHARS: usize = 64;

/// A validated app manifest.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Manifest {
    /// `package.id`.
    pub id: AppId,
    /// `package.name`: the name shown to the user.
    pub name: String,
    /// `package.version`.
    pub version: semver::Version,
    /// `package.capabilities`, in the order written, without duplicates.
    pub capabilities: Vec<Capability>,
    /// `runtime.module`: the app's WebAssembly component.
    pub module: PackagePath,
    /// `ui.entry`: the web page the app shell opens.
    pub ui_entry: PackagePath,
    /// `[limits]`.
    pub limits: Limits,
}

/// Why reading a manifest file failed.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// The file could not be read.
    #[error("cannot read {}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The file is too large to be a manifest.
    #[error("{} is {size} bytes; a manifest is at most {MAX_MANIFEST_BYTES}", path.display())]
    TooLarge {
        /// The file.
        path: PathBuf,
        /// Its size.
        size: u64,
    },
    /// The file is not a valid manifest.
    #[error("invalid manifest {}", path.display())]
    Invalid {
        /// The file.
        path: PathBuf,
        /// What is wrong with it (boxed: it carries the offending text).
        #[source]
        source: Box<ManifestError>,
    },
}

/// An import the manifest does not allow.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ImportDenied {
    /// The import needs a capability the manifest does not grant.
    #[error("the component imports {import} but the manifest lacks {needed}")]
    Missing {
        /// The component import.
        import: String,
        /// The capability that would allow it.
        needed: CapabilityKind,
    },
    /// No app may have this import.
    #[error("the component imports {import}: {reason}")]
    Forbidden {
        /// The component import.
        import: String,
        /// Why it is never linked.
        reason: &'static str,
    },
}

impl Manifest {
    /// Parses and validates a manifest's text.
    pub fn parse(source: &str) -> Result<Self, ManifestError> {
        if source.len() > MAX_MANIFEST_BYTES {
            return Err(ManifestError {
                field: None,
                value: None,
                location: None,
                problem: Problem::TooLarge(source.len()),
            });
        }
        let raw: RawManifest =
            toml::from_str(source).map_err(|error| ManifestError::from_toml(source, &error))?;
        raw.validate(source)
    }

    /// Reads and validates the manifest file at `path`.
    pub fn load(path: &Path) -> Result<Self, LoadError> {
        let read_error = |source| LoadError::Read { path: path.to_owned(), source };
        let size = std::fs::metadata(path).map_err(read_error)?.len();
        if size > MAX_MANIFEST_BYTES as u64 {
            return Err(LoadError::TooLarge { path: path.to_owned(), size });
        }
        let source = std::fs::read_to_string(path).map_err(read_error)?;
        Self::parse(&source).map_err(|source| LoadError::Invalid {
            path: path.to_owned(),
            source: Box::new(source),
        })
    }

    /// Whether the manifest grants a capability of `kind`.
    pub fn grants(&self, kind: CapabilityKind) -> bool {
        self.capabilities.iter().any(|capability| capability.kind() == kind)
    }

    /// The origins the app may fetch from.
    pub fn fetch_origins(&self) -> impl Iterator<Item = &Origin> {
        self.capabilities.iter().filter_map(|capability| match capability {
            Capability::NetFetch(origin) => Some(origin),
            _ => None,
        })
    }

    /// Checks a component's import names against the granted capabilities; the
    /// first import that is not allowed is the error.
    pub fn check_imports<'a>(
        &self,
        imports: impl IntoIterator<Item = &'a str>,
    ) -> Result<(), ImportDenied> {
        for import in imports {
            match import_requirement(import) {
                ImportRequirement::Always => {}
                ImportRequirement::Capability(kind) if self.grants(kind) => {}
                ImportRequirement::Capability(needed) => {
                    return Err(ImportDenied::Missing { import: import.to_owned(), needed });
                }
                ImportRequirement::Never(reason) => {
                    return Err(ImportDenied::Forbidden { import: import.to_owned(), reason });
                }
            }
        }
        Ok(())
    }
}

/// The manifest as written, before validation; spans locate every value.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawManifest {
    package: RawPackage,
    runtime: RawRuntime,
    ui: RawUi,
    #[serde(default)]
    limits: RawLimits,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPackage {
    id: Spanned<String>,
    name: Spanned<String>,
    version: Spanned<String>,
    #[serde(default)]
    capabilities: Vec<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRuntime {
    module: Spanned<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawUi {
    entry: Spanned<String>,
}

#[derive(Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawLimits {
    memory: Option<Spanned<String>>,
    cpu: Option<Spanned<String>>,
}

/// Runs `check` on a spanned field and locates its error.
fn check_field<T, E: Into<Problem>>(
    source: &str,
    field: &str,
    value: &Spanned<String>,
    check: impl FnOnce(&str) -> Result<T, E>,
) -> Result<T, ManifestError> {
    check(value.get_ref()).map_err(|error| {
        ManifestError::at(source, field.to_owned(), value.get_ref(), value.span(), error.into())
    })
}

impl RawManifest {
    fn validate(self, source: &str) -> Result<Manifest, ManifestError> {
        let RawPackage { id, name, version, capabilities } = self.package;
        let limits = Limits {
            memory_bytes: self
                .limits
                .memory
                .map(|memory| check_field(source, "limits.memory", &memory, limits::parse_memory))
                .transpose()?,
            cpu_percent: self
                .limits
                .cpu
                .map(|cpu| check_field(source, "limits.cpu", &cpu, limits::parse_cpu))
                .transpose()?,
        };
        Ok(Manifest {
            id: check_field(source, "package.id", &id, AppId::new)?,
            name: check_field(source, "package.name", &name, check_name)?,
            version: check_field(source, "package.version", &version, |text| {
                semver::Version::parse(text).map_err(|error| Problem::Version(error.to_string()))
            })?,
            capabilities: check_capabilities(source, &capabilities)?,
            module: check_field(source, "runtime.module", &self.runtime.module, PackagePath::new)?,
            ui_entry: check_field(source, "ui.entry", &self.ui.entry, PackagePath::new)?,
            limits,
        })
    }
}

fn check_name(name: &str) -> Result<String, Problem> {
    if name.trim().is_empty() {
        return Err(Problem::Name("the name is empty"));
    }
    if name.trim() != name {
        return Err(Problem::Name("the name starts or ends with whitespace"));
    }
    if name.chars().count() > MAX_NAME_CHARS {
        return Err(Problem::Name("the name is longer than 64 characters"));
    }
    check_shown_text(name, Shown::Name).map_err(Problem::NameChar)?;
    Ok(name.to_owned())
}

fn check_capabilities(
    source: &str,
    written: &[Spanned<String>],
) -> Result<Vec<Capability>, ManifestError> {
    let line_of = |span: &Range<usize>| Location::of(source, span.start).line;
    let mut seen: Vec<(Capability, Range<usize>)> = Vec::with_capacity(written.len());
    for (index, text) in written.iter().enumerate() {
        let field = format!("package.capabilities[{index}]");
        let capability = check_field(source, &field, text, str::parse::<Capability>)?;
        for (earlier, span) in &seen {
            let problem = if *earlier == capability {
                Problem::DuplicateCapability { first_line: line_of(span) }
            } else if earlier.kind() == capability.kind()
                && matches!(capability, Capability::Filesystem { .. })
            {
                Problem::ConflictingCapability {
                    other: earlier.to_string(),
                    other_line: line_of(span),
                }
            } else {
                continue;
            };
            return Err(ManifestError::at(source, field, text.get_ref(), text.span(), problem));
        }
        seen.push((capability, text.span()));
    }
    Ok(seen.into_iter().map(|(capability, _)| capability).collect())
}
