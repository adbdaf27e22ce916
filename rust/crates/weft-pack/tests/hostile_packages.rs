//! Packages that must be refused, each with an error naming what is wrong.

use std::fs;
use std::path::Path;
use std::process::Command;

use common::component_importing;
use wasm_encoder::Module;
use weft_pack::InspectError;
use weft_pack::component::{ComponentError, read_component};

mod common;

fn manifest(capabilities: &str) -> String {
    common::manifest("org.example.test", "1.0.0", capabilities)
}

/// A package directory with the given manifest and component.
fn package(manifest: &str, component: &[u8]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join("wapp.toml"), manifest).unwrap();
    fs::write(dir.path().join("app.wasm"), component).unwrap();
    fs::create_dir(dir.path().join("ui")).unwrap();
    fs::write(dir.path().join("ui/index.html"), "<!doctype html>").unwrap();
    dir
}

fn inspect_error(dir: &Path) -> String {
    match weft_pack::inspect(dir) {
        Ok(inspection) => panic!("accepted a bad package:\n{inspection}"),
        Err(error) => format!("{:#}", anyhow::Error::from(error)),
    }
}

#[test]
fn a_granted_import_is_accepted() {
    let dir = package(
        &manifest("\"sys:notifications\""),
        &component_importing("weft:app/notifications@0.1.0"),
    );
    let inspection = weft_pack::inspect(dir.path()).unwrap();
    assert_eq!(inspection.component.imports, ["weft:app/notifications@0.1.0"]);
}

#[test]
fn an_import_without_its_capability_is_refused_by_name() {
    let dir = package(&manifest(""), &component_importing("weft:app/notifications@0.1.0"));
    let error = inspect_error(dir.path());
    assert!(
        error.contains(
            "imports weft:app/notifications@0.1.0 but the manifest lacks sys:notifications"
        ),
        "{error}"
    );
    let dir = package(
        &manifest("\"sys:clipboard\""),
        &component_importing("wasi:http/outgoing-handler@0.2.6"),
    );
    assert!(inspect_error(dir.path()).contains("lacks net:fetch:<origin>"));
}

#[test]
fn unknown_imports_are_never_allowed() {
    let everything = "\"sys:clipboard\", \"sys:notifications\", \"net:fetch:https://a.example\"";
    let dir = package(&manifest(everything), &component_importing("evil:host/spawn"));
    assert!(inspect_error(dir.path()).contains("WEFT provides no such interface"));
}

#[test]
fn core_modules_and_garbage_are_not_components() {
    let core = Module::new().finish();
    assert!(matches!(read_component(&core), Err(ComponentError::CoreModule)));
    let dir = package(&manifest(""), &core);
    assert!(inspect_error(dir.path()).contains("core WebAssembly module, not a component"));

    let dir = package(&manifest(""), b"#!/bin/sh\nrm -rf /\n");
    assert!(inspect_error(dir.path()).contains("not WebAssembly"));

    let mut truncated = component_importing("weft:app/notify@0.1.0");
    truncated.truncate(truncated.len() - 3);
    let dir = package(&manifest(""), &truncated);
    let error = inspect_error(dir.path());
    assert!(
        error.contains("component check failed for app.wasm: the component does not validate"),
        "{error}"
    );
}

#[test]
fn oversized_components_are_refused_without_reading_them_whole() {
    let dir = package(&manifest(""), &component_importing("weft:app/notify@0.1.0"));
    let file = fs::OpenOptions::new().write(true).open(dir.path().join("app.wasm")).unwrap();
    file.set_len(weft_pack::component::MAX_COMPONENT_BYTES as u64 + 4096).unwrap();
    let error = inspect_error(dir.path());
    assert!(error.contains("larger than the limit of 268435456 bytes"), "{error}");
}

#[test]
fn symlinks_out_of_the_package_are_refused() {
    let outside = tempfile::tempdir().unwrap();
    fs::write(outside.path().join("secret.wasm"), component_importing("weft:app/notify@0.1.0"))
        .unwrap();
    let dir = package(&manifest(""), b"");
    fs::remove_file(dir.path().join("app.wasm")).unwrap();
    std::os::unix::fs::symlink(outside.path().join("secret.wasm"), dir.path().join("app.wasm"))
        .unwrap();
    let error = inspect_error(dir.path());
    assert!(error.contains("cannot open app.wasm (named by runtime.module)"), "{error}");
    assert!(error.contains("is a symlink"), "{error}");

    // A symlinked directory on the way to the UI entry is refused too.
    let dir = package(&manifest(""), &component_importing("weft:app/notify@0.1.0"));
    fs::remove_dir_all(dir.path().join("ui")).unwrap();
    std::os::unix::fs::symlink(outside.path(), dir.path().join("ui")).unwrap();
    let error = inspect_error(dir.path());
    assert!(error.contains("cannot open ui/index.html (named by ui.entry)"), "{error}");
}

#[test]
fn a_signature_that_is_not_a_file_is_refused_by_the_walk() {
    // Found by the package_tree fuzz target: a top-level `wapp.sig` directory
    // was left out of the walk with everything in it, unsigned.
    let dir = package(&manifest(""), &component_importing("weft:app/notify@0.1.0"));
    fs::create_dir(dir.path().join("wapp.sig")).unwrap();
    fs::write(dir.path().join("wapp.sig/extra"), "not covered by any signature").unwrap();
    let error = weft_verify::tree::scan(dir.path()).unwrap_err().to_string();
    assert_eq!(error, "wapp.sig is a directory; the signature must be a regular file");
    // A file of that name is the signature, left out of the list.
    fs::remove_dir_all(dir.path().join("wapp.sig")).unwrap();
    fs::write(dir.path().join("wapp.sig"), "signature").unwrap();
    let listed = weft_verify::tree::scan(dir.path()).unwrap();
    assert!(listed.iter().all(|entry| entry.path != "wapp.sig"), "{listed:?}");
}

#[test]
fn missing_files_and_bad_manifests_name_the_step() {
    let dir = package(&manifest(""), &component_importing("weft:app/notify@0.1.0"));
    fs::remove_file(dir.path().join("ui/index.html")).unwrap();
    assert!(inspect_error(dir.path()).contains("cannot open ui/index.html (named by ui.entry)"));

    let dir = package(&manifest("\"sys:camera\""), b"");
    let error = inspect_error(dir.path());
    assert!(error.starts_with("invalid wapp.toml in "), "{error}");
    assert!(
        error.contains("package.capabilities[0] = \"sys:camera\": unknown capability"),
        "{error}"
    );

    let empty = tempfile::tempdir().unwrap();
    assert!(matches!(weft_pack::inspect(empty.path()), Err(InspectError::ManifestRead { .. })));
}

#[test]
fn the_cli_exits_non_zero_with_the_reason() {
    let dir = package(&manifest(""), &component_importing("weft:app/clipboard@0.1.0"));
    let output = Command::new(env!("CARGO_BIN_EXE_weft-pack"))
        .arg("inspect")
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("weft-pack: capability check failed: the component imports weft:app/clipboard@0.1.0 but the manifest lacks sys:clipboard"),
        "{stderr}"
    );
}
