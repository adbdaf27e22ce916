//! The mount helper on this host: hostile ids and arguments, an environment
//! that is ignored, and images that are missing, unsigned, signed by an
//! untrusted key, resized or signed for another app, all refused before any
//! device is made. (Mapping and mounting run in the VM: this host has no
//! device-mapper.)

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use weft_mount_helper::{HelperError, SystemPaths, mount, unmount};
use weft_pack::image::build_image;
use weft_pack::keys::{generate_key, load_signing_key};

fn helper(args: &[&str], env: &[(&str, &Path)]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_weft-mount-helper"));
    command.args(args);
    for (name, value) in env {
        command.env(name, value);
    }
    command.output().unwrap()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[test]
fn hostile_ids_are_refused_before_anything_is_touched() {
    let long = "a.".repeat(5_000) + "b";
    for hostile in ["../../tmp/evil", "/abs", "a/../b", "", long.as_str(), "org.weft.hello/x"] {
        for action in ["mount", "unmount"] {
            let output = helper(&[action, hostile], &[]);
            assert_eq!(output.status.code(), Some(1), "{action} {hostile:?}: {}", stderr(&output));
            assert!(
                stderr(&output).contains("is not an app id"),
                "{action} {hostile:?}: {}",
                stderr(&output)
            );
            assert!(output.stdout.is_empty());
        }
    }
}

#[test]
fn anything_but_one_action_and_one_id_is_a_usage_error() {
    for args in [
        &[][..],
        &["mount"][..],
        &["mount", "org.weft.hello", "/tmp/elsewhere"][..],
        &["mount", "--image", "/tmp/x.wimg", "org.weft.hello"][..],
        &["format", "org.weft.hello"][..],
        &["mount", "-rf"][..],
    ] {
        let output = helper(args, &[]);
        assert_eq!(output.status.code(), Some(2), "{args:?}: {}", stderr(&output));
    }
}

/// A signed image of the hello app, a trusted-keys directory, and system
/// paths under a scratch directory whose `veritysetup` does not exist: a
/// check that wrongly passed would fail at that step, with another error.
struct Store {
    scratch: tempfile::TempDir,
    paths: SystemPaths,
}

impl Store {
    fn new() -> Self {
        let scratch = tempfile::tempdir().unwrap();
        let root = scratch.path();
        let paths = SystemPaths {
            images: root.join("images"),
            trusted_keys: root.join("trusted"),
            apps: root.join("apps"),
            mapper: root.join("mapper"),
            veritysetup: root.join("no-veritysetup"),
        };
        for dir in [&paths.images, &paths.trusted_keys, &paths.mapper] {
            fs::create_dir_all(dir).unwrap();
        }
        generate_key(&root.join("system.key"), &paths.trusted_keys.join("system.pub")).unwrap();
        Self { scratch, paths }
    }

    /// Builds the hello app's image signed with `key` into `images/<dir>/`.
    fn install_hello(&self, dir: &str, key: &str) -> PathBuf {
        let key = load_signing_key(&self.scratch.path().join(key)).unwrap();
        let out = self.paths.images.join(dir);
        let package = weft_testkit::built_package("hello");
        let staged = self.scratch.path().join("package");
        let _ = fs::remove_dir_all(&staged);
        weft_testkit::copy_tree(&package, &staged);
        let _ = fs::remove_file(staged.join("wapp.sig"));
        build_image(&staged, &key, &out, &|_| {}).unwrap().image
    }

    fn mount_error(&self, id: &str) -> String {
        let error = mount(&self.paths, id).unwrap_err();
        assert!(fs::read_dir(&self.paths.mapper).unwrap().next().is_none(), "a device was made");
        assert!(!self.paths.apps.join(id).exists(), "a mount point was made");
        error.to_string()
    }
}

#[test]
fn built_apps_a_good_image_passes_every_check_and_reaches_the_mapping_step() {
    let store = Store::new();
    store.install_hello("org.weft.hello", "system.key");
    let error = mount(&store.paths, "org.weft.hello").unwrap_err();
    assert!(
        matches!(&error, HelperError::Io { step, .. } if step.contains("mapping the image with dm-verity")),
        "{error}"
    );
}

#[test]
fn built_apps_a_missing_image_is_named() {
    let store = Store::new();
    let message = store.mount_error("org.weft.hello");
    assert!(message.contains("org.weft.hello has no image in"), "{message}");
}

#[test]
fn built_apps_an_unsigned_image_is_refused() {
    let store = Store::new();
    let image = store.install_hello("org.weft.hello", "system.key");
    fs::remove_file(image.with_extension("sig")).unwrap();
    let message = store.mount_error("org.weft.hello");
    assert!(message.starts_with("verifying the signed statement"), "{message}");
}

#[test]
fn built_apps_an_image_signed_by_an_untrusted_key_is_refused() {
    let store = Store::new();
    let scratch = store.scratch.path();
    generate_key(&scratch.join("stranger.key"), &scratch.join("stranger.pub")).unwrap();
    store.install_hello("org.weft.hello", "stranger.key");
    let message = store.mount_error("org.weft.hello");
    assert!(message.contains("verifying the signed statement"), "{message}");
    assert!(message.contains("which is not among the trusted keys"), "{message}");
}

#[test]
fn built_apps_a_resized_image_is_refused() {
    let store = Store::new();
    let image = store.install_hello("org.weft.hello", "system.key");
    let mut bytes = fs::read(&image).unwrap();
    bytes.extend_from_slice(&[0; 4096]);
    fs::write(&image, bytes).unwrap();
    let message = store.mount_error("org.weft.hello");
    assert!(message.contains("was signed at"), "{message}");
}

#[test]
fn built_apps_an_image_signed_for_another_app_is_refused() {
    let store = Store::new();
    let image = store.install_hello("org.weft.other", "system.key");
    // The right files, under another app's directory.
    let dir = store.paths.images.join("org.weft.other");
    assert!(image.starts_with(&dir));
    let message = store.mount_error("org.weft.other");
    assert!(message.contains("signed for org.weft.hello, not org.weft.other"), "{message}");
}

#[test]
fn built_apps_two_images_for_one_app_are_refused() {
    let store = Store::new();
    let image = store.install_hello("org.weft.hello", "system.key");
    fs::copy(&image, image.with_file_name("org.weft.hello-9.9.9.wimg")).unwrap();
    let message = store.mount_error("org.weft.hello");
    assert!(message.contains("2 images; expected exactly one"), "{message}");
}

#[test]
fn unmounting_an_app_that_is_not_mounted_does_nothing() {
    let store = Store::new();
    unmount(&store.paths, "org.weft.hello").unwrap();
    assert!(!store.paths.apps.join("org.weft.hello").exists());
}

#[test]
fn built_apps_the_environment_cannot_redirect_the_helper() {
    // A valid store, trusted keys and veritysetup named by every variable a
    // caller might try: the helper still looks only at its fixed paths.
    let store = Store::new();
    store.install_hello("org.weft.hello", "system.key");
    let root = store.scratch.path();
    let id = "org.weft.test-env-ignored";
    fs::rename(store.paths.images.join("org.weft.hello"), store.paths.images.join(id)).unwrap();
    let output = helper(
        &["mount", id],
        &[
            ("WEFT_IMAGES", &store.paths.images),
            ("WEFT_IMAGE_STORE", &store.paths.images),
            ("WEFT_APP_STORE", &store.paths.images),
            ("WEFT_TRUSTED_KEYS", &store.paths.trusted_keys),
            ("WEFT_VERITYSETUP", &root.join("evil")),
            ("PATH", root),
            ("LD_PRELOAD", &root.join("evil.so")),
        ],
    );
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    assert!(
        stderr(&output).contains(&format!("{id} has no image in /var/lib/weft/images/{id}")),
        "{}",
        stderr(&output)
    );
}
