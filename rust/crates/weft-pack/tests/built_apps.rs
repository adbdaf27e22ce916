//! The example apps under apps/, built into components by apps/build.sh (which
//! the README's test command runs first). Test names start with `built_apps_` so
//! builds without the guest toolchain (the Nix sandbox) can skip them by name.

use std::path::PathBuf;
use std::process::Command;

use weft_manifest::{ImportRequirement, import_requirement};

/// The directory apps/build.sh assembles packages into.
fn built_package(app: &str) -> PathBuf {
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

#[test]
fn built_apps_hello_imports_only_notify_ipc_and_core_wasi() {
    let inspection = weft_pack::inspect(&built_package("hello")).unwrap();
    let imports = &inspection.component.imports;
    let interfaces: Vec<&str> =
        imports.iter().map(|import| import.split_once('@').unwrap().0).collect();

    assert!(interfaces.contains(&"weft:app/notify"), "{imports:?}");
    assert!(interfaces.contains(&"weft:app/ipc"), "{imports:?}");
    for import in imports {
        let is_weft = import.starts_with("weft:app/notify@") || import.starts_with("weft:app/ipc@");
        assert!(is_weft || import.starts_with("wasi:"), "unexpected import {import}");
        assert_eq!(import_requirement(import), ImportRequirement::Always, "{import}");
    }
    // The WASI P2 interfaces a Rust std guest needs and nothing that reaches out.
    for interface in ["wasi:cli/exit", "wasi:cli/stdout", "wasi:io/streams"] {
        assert!(interfaces.contains(&interface), "missing {interface}: {imports:?}");
    }
    for absent in ["weft:app/notifications", "weft:app/clipboard", "wasi:http/", "wasi:sockets/"] {
        assert!(!imports.iter().any(|i| i.starts_with(absent)), "{absent}: {imports:?}");
    }
    assert_eq!(inspection.component.exports, ["wasi:cli/run@0.2.6"]);
    assert_eq!(inspection.manifest.id.as_str(), "org.weft.hello");
}

#[test]
fn built_apps_cli_reports_the_hello_package() {
    let output = Command::new(env!("CARGO_BIN_EXE_weft-pack"))
        .arg("inspect")
        .arg(built_package("hello"))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    assert!(stdout.contains("package       org.weft.hello 0.1.0"), "{stdout}");
    assert!(stdout.contains("weft:app/ipc@0.1.0"), "{stdout}");
    assert!(stdout.contains("verdict       OK"), "{stdout}");
}
