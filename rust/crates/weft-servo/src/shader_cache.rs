//! Where a shell keeps the shaders Mesa compiled, so its next start skips
//! the compile: llvmpipe turns each of WebRender's shaders into machine code
//! with LLVM, about 0.65 s of an app shell's first page on 2 cores, the same
//! work at every start. Each shell owns one directory, written only by the
//! shells of the same owner (the system UI, or one app): its sandbox lets it
//! write there and nowhere else outside its scratch directory, so a page
//! that took over its shell can only spoil its own app's cache, never
//! another app's or the system UI's.

use std::path::{Path, PathBuf};

use weft_manifest::AppId;

/// The most Mesa keeps in one owner's directory (it evicts beyond that).
const MAX_SIZE: &str = "16M";

/// Whose shaders a shell compiles.
#[derive(Clone, Copy, Debug)]
pub enum Owner<'a> {
    /// The system UI shell.
    SystemUi,
    /// The app shells of one app.
    App(&'a AppId),
}

impl Owner<'_> {
    /// The owner's directory under the cache `root`: the app id (always one
    /// safe path component, with at least one dot) or `system-ui` (no dot, so
    /// never an app's).
    pub fn directory(self, root: &Path) -> PathBuf {
        match self {
            Owner::SystemUi => root.join("system-ui"),
            Owner::App(id) => root.join(id.as_str()),
        }
    }
}

/// The root of the shells' shader caches, from `environment` (a variable's
/// value by name): systemd's `$CACHE_DIRECTORY` for a unit with
/// `CacheDirectory=`, else `$XDG_CACHE_HOME/weft-shaders`, else
/// `$HOME/.cache/weft-shaders`; `None` when none is set.
pub fn root(environment: impl Fn(&str) -> Option<String>) -> Option<PathBuf> {
    let set = |name: &str| environment(name).filter(|value| !value.is_empty()).map(PathBuf::from);
    set("CACHE_DIRECTORY")
        .or_else(|| set("XDG_CACHE_HOME").map(|dir| dir.join("weft-shaders")))
        .or_else(|| set("HOME").map(|home| home.join(".cache/weft-shaders")))
}

/// The environment Mesa reads its cache settings from: the owner's
/// `directory`, or the cache off when there is none.
pub fn mesa_environment(directory: Option<&Path>) -> Vec<(&'static str, String)> {
    match directory {
        Some(directory) => vec![
            ("MESA_SHADER_CACHE_DIR", directory.display().to_string()),
            ("MESA_SHADER_CACHE_MAX_SIZE", MAX_SIZE.to_owned()),
        ],
        None => vec![("MESA_SHADER_CACHE_DISABLE", "true".to_owned())],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn environment<'a>(pairs: &'a [(&str, &str)]) -> impl Fn(&str) -> Option<String> + 'a {
        move |name| pairs.iter().find(|(key, _)| *key == name).map(|(_, value)| value.to_string())
    }

    #[test]
    fn systemds_cache_directory_comes_first_then_xdg_then_home() {
        let all = [("CACHE_DIRECTORY", "/var/cache/weft-shaders"), ("XDG_CACHE_HOME", "/x")];
        assert_eq!(root(environment(&all)), Some("/var/cache/weft-shaders".into()));
        let xdg = [("XDG_CACHE_HOME", "/x"), ("HOME", "/home/u")];
        assert_eq!(root(environment(&xdg)), Some("/x/weft-shaders".into()));
        let home = [("XDG_CACHE_HOME", ""), ("HOME", "/home/u")];
        assert_eq!(root(environment(&home)), Some("/home/u/.cache/weft-shaders".into()));
        assert_eq!(root(environment(&[])), None);
    }

    #[test]
    fn every_owner_has_a_directory_of_its_own() {
        let root = Path::new("/c");
        let hello = AppId::new("org.weft.hello").unwrap();
        let clock = AppId::new("org.weft.clock").unwrap();
        let dirs = [Owner::SystemUi, Owner::App(&hello), Owner::App(&clock)]
            .map(|owner| owner.directory(root));
        assert_eq!(dirs[0], Path::new("/c/system-ui"));
        assert_eq!(dirs[1], Path::new("/c/org.weft.hello"));
        assert!(dirs.iter().all(|dir| dir.parent() == Some(root)));
        assert_ne!(dirs[1], dirs[2]);
    }

    #[test]
    fn without_a_directory_mesa_keeps_no_cache() {
        assert_eq!(mesa_environment(None), vec![("MESA_SHADER_CACHE_DISABLE", "true".to_owned())]);
        let set = mesa_environment(Some(Path::new("/c/system-ui")));
        assert_eq!(set[0], ("MESA_SHADER_CACHE_DIR", "/c/system-ui".to_owned()));
    }
}
