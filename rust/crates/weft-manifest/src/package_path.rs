//! Paths of files inside a package, as the manifest names them.

use std::fmt;
use std::path::Path;

/// A relative path that stays inside the package directory: `/`-separated
/// normal components only (no `..`, `.`, empty component, leading `/`,
/// backslash or control character).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct PackagePath(String);

/// Why a path was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PackagePathError {
    /// The path is empty.
    #[error("the path is empty")]
    Empty,
    /// The path starts with `/`.
    #[error("the path is absolute; use a path relative to the package")]
    Absolute,
    /// A `..` component.
    #[error("the path leaves the package with '..'")]
    ParentDir,
    /// A `.` or empty component, or a trailing `/`.
    #[error("the path has a '.' or empty component; write it in its plain form")]
    NotNormal,
    /// A backslash or control character.
    #[error("the path contains {0:?}, which package paths never do")]
    BadCharacter(char),
    /// Longer than 4096 bytes.
    #[error("the path is longer than 4096 bytes")]
    TooLong,
}

impl PackagePath {
    /// Validates `path`.
    pub fn new(path: &str) -> Result<Self, PackagePathError> {
        if path.is_empty() {
            return Err(PackagePathError::Empty);
        }
        if path.len() > 4096 {
            return Err(PackagePathError::TooLong);
        }
        if let Some(bad) = path.chars().find(|&c| c == '\\' || c.is_control()) {
            return Err(PackagePathError::BadCharacter(bad));
        }
        if path.starts_with('/') {
            return Err(PackagePathError::Absolute);
        }
        for component in path.split('/') {
            match component {
                ".." => return Err(PackagePathError::ParentDir),
                "" | "." => return Err(PackagePathError::NotNormal),
                _ => {}
            }
        }
        Ok(Self(path.to_owned()))
    }

    /// The path as a string.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The path, to join onto the package directory.
    pub fn as_path(&self) -> &Path {
        Path::new(&self.0)
    }
}

impl fmt::Display for PackagePath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_paths_inside_the_package() {
        assert!(PackagePath::new("app.wasm").is_ok());
        assert!(PackagePath::new("ui/index.html").is_ok());
        assert!(PackagePath::new("ui/..hidden/a..b").is_ok());
        let cases: &[(&str, PackagePathError)] = &[
            ("", PackagePathError::Empty),
            ("/etc/passwd", PackagePathError::Absolute),
            ("../app.wasm", PackagePathError::ParentDir),
            ("ui/../../x", PackagePathError::ParentDir),
            ("./app.wasm", PackagePathError::NotNormal),
            ("ui//index.html", PackagePathError::NotNormal),
            ("ui/", PackagePathError::NotNormal),
            ("ui\\..\\x", PackagePathError::BadCharacter('\\')),
            ("app\n.wasm", PackagePathError::BadCharacter('\n')),
            ("app\0.wasm", PackagePathError::BadCharacter('\0')),
        ];
        for (path, expected) in cases {
            assert_eq!(PackagePath::new(path).unwrap_err(), *expected, "path {path:?}");
        }
        assert_eq!(PackagePath::new(&"a/".repeat(2049)).unwrap_err(), PackagePathError::TooLong);
    }
}
