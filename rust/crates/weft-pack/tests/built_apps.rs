//! The example apps under apps/, built into components by apps/build.sh (which
//! the README's test command runs first). Test names start with `built_apps_` so
//! builds without the guest toolchain (the Nix sandbox) can skip them by name.

mod common;

use std::fs;
use std::path::{Path, PathBuf};

use weft_manifest::{ImportRequirement, import_requirement};
use weft_testkit::built_package;

/// A private copy of a built package (tests sign it, which writes into it).
fn copy_of(app: &str, to: &Path) -> PathBuf {
    let from = built_package(app);
    for entry in weft_pack::tree::scan(&from).unwrap() {
        let target = to.join(&entry.path);
        match entry.kind {
            weft_pack::tree::EntryKind::Dir => fs::create_dir_all(target).unwrap(),
            weft_pack::tree::EntryKind::File => {
                fs::create_dir_all(target.parent().unwrap()).unwrap();
                fs::copy(from.join(&entry.path), target).unwrap();
            }
        }
    }
    to.to_owned()
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
    let world = common::World::new();
    let output =
        world.cli(&world.path("store"), &["check", built_package("hello").to_str().unwrap()]);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    assert!(stdout.contains("package       org.weft.hello 0.1.0"), "{stdout}");
    assert!(stdout.contains("weft:app/ipc@0.1.0"), "{stdout}");
    assert!(stdout.contains("verdict       OK"), "{stdout}");
}

#[test]
fn built_apps_check_refuses_a_component_of_another_world_naming_the_function() {
    let world = common::World::new();
    let package = copy_of("hello", &world.path("wrong-world"));
    let manifest = weft_manifest::Manifest::load(&package.join("wapp.toml")).unwrap();
    let wat = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../weft-runtime/tests/fixtures/wrong-world.wat");
    fs::write(package.join(manifest.module.as_path()), wat::parse_file(wat).unwrap()).unwrap();
    let output = world.cli(&world.path("store"), &["check", package.to_str().unwrap()]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "{stderr}");
    let expected = "weft-pack: the component was built for another world: its import \
                    `weft:app/ipc@0.1.0` has `send` of another type: type mismatch with \
                    parameters: expected `string` found `u32`; WEFT provides \
                    `send: func(message: string) -> result<_, ipc-error>`";
    assert_eq!(stderr.trim_end(), expected);
}

#[test]
fn built_apps_hello_round_trips_through_sign_image_verify_and_install() {
    let world = common::World::new();
    let package = copy_of("hello", &world.path("hello"));
    let store = world.path("store");
    let key = world.key_path.to_str().unwrap();
    let run = |args: &[&str]| {
        let output = world.cli(&store, args);
        assert!(output.status.success(), "{args:?}: {}", String::from_utf8_lossy(&output.stderr));
        String::from_utf8_lossy(&output.stdout).into_owned()
    };
    let package_arg = package.to_str().unwrap();
    assert!(run(&["sign", "--key", key, package_arg]).starts_with("signed org.weft.hello 0.1.0"));
    assert!(run(&["verify", package_arg]).contains("all match the signature"));

    let out = world.path("images");
    let built = run(&["build-image", "--key", key, "--out", out.to_str().unwrap(), package_arg]);
    assert!(built.contains("org.weft.hello-0.1.0.wimg"), "{built}");
    let image = out.join("org.weft.hello-0.1.0.wimg");
    assert!(out.join("org.weft.hello-0.1.0.sig").is_file());
    let verified = run(&["verify", "--json", image.to_str().unwrap()]);
    let report: serde_json::Value = serde_json::from_str(&verified).unwrap();
    assert_eq!(report["id"], "org.weft.hello");
    assert_eq!(report["image"]["root-hash"].as_str().unwrap().len(), 64);

    assert!(run(&["install", package_arg]).starts_with("installed "));
    let listed = run(&["list"]);
    assert!(listed.starts_with("org.weft.hello"), "{listed}");
    assert!(listed.contains("verified"), "{listed}");
}
