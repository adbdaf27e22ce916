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

/// Runs the test `test` (its path in the test binary, e.g.
/// `sandbox::tests::name`) again in a child process with `marker` set in its
/// environment, and returns what it printed. For tests of process-wide state
/// (a seccomp filter, Landlock): the test does the work in the child when it
/// sees `marker`, and checks the child's report otherwise.
pub fn rerun_in_child(test: &str, marker: &str) -> String {
    let output = std::process::Command::new(std::env::current_exe().unwrap())
        .args([test, "--exact", "--nocapture", "--test-threads=1"])
        .env(marker, "1")
        .output()
        .unwrap();
    String::from_utf8(output.stdout).unwrap()
}

/// The runtime as it ships, for benchmarks: `WEFT_RUNTIME_BIN` when set, else
/// built with `cargo build --release` on its own, after the installer (one
/// cargo invocation would give it the installer's compiler, and a bench's
/// dev-dependencies do), in `<target>/shipped-runtime`: a target directory of
/// its own beside the one holding `built_bin` (a binary of the running bench's
/// build), which the running bench holds. The first time takes minutes.
pub fn shipped_runtime(built_bin: &Path) -> PathBuf {
    if let Some(runtime) = std::env::var_os("WEFT_RUNTIME_BIN") {
        return PathBuf::from(runtime);
    }
    let target = built_bin.ancestors().nth(2).expect("the binary is in <target>/<profile>");
    let shipped = target.join("shipped-runtime");
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    for package in ["weft-pack", "weft-runtime"] {
        eprintln!(
            "building {package} on its own in {} (the first time: minutes)",
            shipped.display()
        );
        let status = std::process::Command::new(&cargo)
            .args(["build", "--release", "--locked", "--quiet", "-p", package])
            .arg("--manifest-path")
            .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/../../Cargo.toml"))
            .env("CARGO_TARGET_DIR", &shipped)
            .status()
            .expect("running cargo");
        assert!(status.success(), "building {package} on its own failed");
    }
    shipped.join("release/weft-runtime")
}
