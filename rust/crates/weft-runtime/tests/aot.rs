//! Launch never trusts machine code it did not compile: artifacts are reused,
//! rejected when tampered or foreign, and never taken from a package.

mod common;

use std::fs;
use std::path::Path;

use common::{Launch, built_package};
use sha2::{Digest, Sha256};
use weft_aot::ArtifactStore;

const REFUSED: i32 = 3;

fn launch_hello(package: &Path, aot_dir: &Path) -> String {
    let mut launch = Launch::new(package.to_owned());
    launch.aot_dir = aot_dir.to_owned();
    launch.session = false;
    let mut app = launch.start();
    app.expect_ready();
    assert_eq!(app.exit_code(), 0, "{}", app.stderr());
    app.stderr()
}

fn artifact_of(package: &Path, aot_dir: &Path) -> std::path::PathBuf {
    let component = fs::read(package.join("app.wasm")).unwrap();
    ArtifactStore::new(aot_dir).artifact_path(&weft_aot::component_digest(&component))
}

#[test]
fn built_apps_the_second_launch_loads_the_stored_artifact() {
    let aot = tempfile::tempdir().unwrap();
    let hello = built_package("hello");
    assert!(
        launch_hello(&hello, aot.path())
            .contains("compiled the component (no stored artifact) with ")
    );
    let artifact = artifact_of(&hello, aot.path());
    assert!(artifact.is_file());
    assert!(fs::metadata(&artifact).unwrap().permissions().readonly());
    let second = launch_hello(&hello, aot.path());
    assert!(second.contains("loaded the precompiled component"), "{second}");
    assert!(!second.contains("compiled the component ("), "{second}");
}

#[test]
fn built_apps_a_tampered_artifact_is_recompiled_not_loaded() {
    let aot = tempfile::tempdir().unwrap();
    let hello = built_package("hello");
    launch_hello(&hello, aot.path());
    let artifact = artifact_of(&hello, aot.path());
    let mut bytes = fs::read(&artifact).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0xff;
    fs::remove_file(&artifact).unwrap();
    fs::write(&artifact, &bytes).unwrap();
    let stderr = launch_hello(&hello, aot.path());
    assert!(stderr.contains("does not match its recorded SHA-256"), "{stderr}");
    assert!(stderr.contains("compiled the component"), "{stderr}");
    assert_ne!(fs::read(&artifact).unwrap(), bytes, "the tampered artifact must be replaced");
}

#[test]
fn built_apps_an_artifact_from_another_engine_configuration_is_rejected() {
    let aot = tempfile::tempdir().unwrap();
    let hello = built_package("hello");
    let component = fs::read(hello.join("app.wasm")).unwrap();
    // Compiled by an engine without epoch interruption: wasmtime must refuse to
    // load it into ours, even though its digest is recorded correctly.
    let mut config = wasmtime::Config::new();
    config.wasm_component_model(true);
    let foreign = wasmtime::Engine::new(&config).unwrap().precompile_component(&component).unwrap();
    let artifact = artifact_of(&hello, aot.path());
    fs::create_dir_all(aot.path()).unwrap();
    fs::write(&artifact, &foreign).unwrap();
    fs::write(artifact.with_extension("sha256"), hex::encode(Sha256::digest(&foreign))).unwrap();
    let stderr = launch_hello(&hello, aot.path());
    assert!(stderr.contains("recompiling: stored artifact rejected"), "{stderr}");
}

#[test]
fn built_apps_a_package_carrying_machine_code_is_refused_or_ignored() {
    let scratch = tempfile::tempdir().unwrap();
    let engine = weft_aot::engine().unwrap();
    let hello = built_package("hello");
    let component = fs::read(hello.join("app.wasm")).unwrap();
    let native = engine.precompile_component(&component).unwrap();

    // Machine code in place of the component: not a component, refused.
    let package = common::package_with("hello", &scratch.path().join("native"), "");
    fs::write(package.join("app.wasm"), &native).unwrap();
    let mut launch = Launch::new(package);
    launch.aot_dir = scratch.path().join("aot-1");
    let mut app = launch.start();
    assert_eq!(app.exit_code(), REFUSED);
    assert!(app.stderr().contains("is not a valid WebAssembly component"), "{}", app.stderr());

    // Machine code beside the component, named as the artifact would be: ignored.
    let package = common::package_with("hello", &scratch.path().join("bundled"), "");
    let aot_dir = scratch.path().join("aot-2");
    let key_name = artifact_of(&package, &aot_dir).file_name().unwrap().to_owned();
    fs::write(package.join(&key_name), &native).unwrap();
    fs::write(package.join("app.cwasm"), &native).unwrap();
    let stderr = launch_hello(&package, &aot_dir);
    assert!(stderr.contains("compiled the component (no stored artifact)"), "{stderr}");
}

/// An image mount cannot change, so weft-appd gives the component's SHA-256
/// (computed once per mount) as the key of its artifact; for a store package
/// it gives the SHA-256 it verified, the same key: either way the runtime
/// loads the artifact compiled from those bytes and never reads the component
/// again.
#[test]
fn built_apps_an_artifact_key_loads_the_artifact_without_reading_the_component() {
    let scratch = tempfile::tempdir().unwrap();
    let aot = scratch.path().join("aot");
    let hello = built_package("hello");
    let key = weft_aot::component_digest(&fs::read(hello.join("app.wasm")).unwrap());
    launch_hello(&hello, &aot);
    // The same package with its component made unreadable garbage: loaded by
    // key, it still runs.
    let package = common::package_with("hello", &scratch.path().join("keyed"), "");
    let manifest = weft_aot::component_digest(&fs::read(package.join("wapp.toml")).unwrap());
    fs::write(package.join("app.wasm"), b"not read").unwrap();
    for key_args in [
        vec!["--artifact-key".to_owned(), key.clone()],
        vec![
            "--manifest-sha256".to_owned(),
            manifest,
            "--component-sha256".to_owned(),
            key.clone(),
        ],
    ] {
        let mut launch = Launch::new(package.clone());
        launch.aot_dir = aot.clone();
        launch.session = false;
        launch.extra_args = key_args;
        let mut app = launch.start();
        app.expect_ready();
        assert_eq!(app.exit_code(), 0, "{}", app.stderr());
        assert!(app.stderr().contains("loaded the precompiled component"), "{}", app.stderr());
    }
}

/// weft-appd hands the runtime its artifact open, checked once per file
/// (`--artifact-fd`): it is loaded without being hashed again, but only when
/// it is the very file the store holds for the key. Another component's
/// artifact handed over for hello is not run: hello's own is loaded instead.
#[test]
fn built_apps_a_handed_over_artifact_runs_only_if_it_is_the_stores_for_the_key() {
    let aot = tempfile::tempdir().unwrap();
    let hello = built_package("hello");
    let key = weft_aot::component_digest(&fs::read(hello.join("app.wasm")).unwrap());
    launch_hello(&hello, aot.path());
    let other = built_package("test-exit-status");
    let mut launch = Launch::new(other.clone());
    launch.aot_dir = aot.path().to_owned();
    launch.session = false;
    launch.start().exit_code();
    let other_artifact = artifact_of(&other, aot.path());
    assert!(other_artifact.is_file(), "the other app's artifact was not stored");

    for (artifact, loaded) in [
        (
            artifact_of(&hello, aot.path()),
            "loaded the precompiled component the supervisor checked",
        ),
        (other_artifact, "the artifact handed over is not"),
    ] {
        let mut launch = Launch::new(hello.clone());
        launch.aot_dir = aot.path().to_owned();
        launch.session = false;
        launch.artifact = Some(fs::File::open(&artifact).unwrap());
        launch.extra_args = vec!["--artifact-key".into(), key.clone()];
        let mut app = launch.start();
        app.expect_ready();
        assert_eq!(app.exit_code(), 0, "{}", app.stderr());
        assert!(app.stderr().contains(loaded), "{}", app.stderr());
    }
}

/// Without a stored artifact the component must be read and compiled: bytes
/// whose SHA-256 is not the key given are refused, never compiled.
#[test]
fn built_apps_a_component_that_is_not_its_key_is_refused_before_compiling() {
    let scratch = tempfile::tempdir().unwrap();
    let hello = built_package("hello");
    let other = weft_aot::component_digest(b"another component");
    let mut launch = Launch::new(hello);
    launch.aot_dir = scratch.path().join("aot");
    launch.session = false;
    launch.extra_args = vec!["--artifact-key".into(), other.clone()];
    let mut app = launch.start();
    assert_eq!(app.exit_code(), REFUSED);
    let stderr = app.stderr();
    assert!(
        stderr.contains("changed after it was verified") && stderr.contains(&other),
        "{stderr}"
    );
    assert!(!stderr.contains("compiled the component"), "{stderr}");
    assert!(fs::read_dir(scratch.path().join("aot")).map_or(true, |mut dir| dir.next().is_none()));
}
