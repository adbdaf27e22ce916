//! Helpers for tests that use the example apps built by `apps/build.sh`.

use std::fs;
use std::path::{Path, PathBuf};

/// The package directory `apps/build.sh` assembled for `app`
/// (`$WEFT_BUILD_DIR/apps/<app>`, default `<repo>/build/apps/<app>`). Panics with
/// the command to run when it has not been built.
pub fn built_package(app: &str) -> PathBuf {
    let build_dir = std::env::var_os("WEFT_BUILD_DIR").map_or_else(
        || PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../../build")),
        PathBuf::from,
    );
    let package = build_dir.join("apps").join(app);
    assert!(
        package.join("app.wasm").is_file(),
        "{} has no app.wasm: run apps/build.sh first (`make test` does)",
        package.display()
    );
    package
}

/// Copies the directory tree `from` to `to` (regular files and directories).
pub fn copy_tree(from: &Path, to: &Path) {
    fs::create_dir_all(to).unwrap();
    for entry in fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_tree(&entry.path(), &target);
        } else {
            fs::copy(entry.path(), target).unwrap();
        }
    }
}
