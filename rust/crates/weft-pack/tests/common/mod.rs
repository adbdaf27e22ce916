//! Shared test fixtures: real package directories, real keys, the real CLI.

#![allow(dead_code, reason = "each test binary uses a different part of this module")]

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use ed25519_dalek::SigningKey;
use wasm_encoder::{
    Component, ComponentImportSection, ComponentTypeRef, ComponentTypeSection, InstanceType,
};
use weft_pack::keys::{self, TrustedKeys};

/// A valid component whose only content is an import of `interface`.
pub fn component_importing(interface: &str) -> Vec<u8> {
    let mut types = ComponentTypeSection::new();
    types.instance(&InstanceType::new());
    let mut imports = ComponentImportSection::new();
    imports.import(interface, ComponentTypeRef::Instance(0));
    let mut component = Component::new();
    component.section(&types).section(&imports);
    component.finish()
}

/// A `wapp.toml` for `id` at `version` with the given capability list.
pub fn manifest(id: &str, version: &str, capabilities: &str) -> String {
    format!(
        "[package]\nid = \"{id}\"\nname = \"Test\"\nversion = \"{version}\"\n\
         capabilities = [{capabilities}]\n[runtime]\nmodule = \"app.wasm\"\n[ui]\nentry = \"ui/index.html\"\n"
    )
}

/// Writes a complete package (manifest, component, two UI files) into `dir`.
pub fn write_package(dir: &Path, id: &str, version: &str) {
    fs::create_dir_all(dir.join("ui")).unwrap();
    fs::write(dir.join("wapp.toml"), manifest(id, version, "")).unwrap();
    fs::write(dir.join("app.wasm"), component_importing("weft:app/notify@0.1.0")).unwrap();
    fs::write(dir.join("ui/index.html"), "<!doctype html><p>test</p>").unwrap();
    fs::write(dir.join("ui/app.js"), "console.log('test');").unwrap();
    fs::write(dir.join("ui/texture.bin"), noise(48 * 1024)).unwrap();
    for path in ["wapp.toml", "app.wasm", "ui/index.html", "ui/app.js", "ui/texture.bin"] {
        fs::set_permissions(dir.join(path), fs::Permissions::from_mode(0o644)).unwrap();
    }
    for path in ["", "ui"] {
        fs::set_permissions(dir.join(path), fs::Permissions::from_mode(0o755)).unwrap();
    }
}

/// `len` bytes that do not compress (a fixed xorshift sequence), so images
/// built from them span many data blocks and hash blocks.
pub fn noise(len: usize) -> Vec<u8> {
    let mut state = 0x2545_f491_4f6c_dd1du64;
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state as u8
        })
        .collect()
}

/// A temporary world: a key pair, a trusted-keys directory holding its public
/// key, and a scratch directory.
pub struct World {
    pub dir: tempfile::TempDir,
    pub key_path: PathBuf,
    pub key: SigningKey,
    pub trusted_dir: PathBuf,
}

impl World {
    pub fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let key_path = dir.path().join("dev.key");
        let trusted_dir = dir.path().join("trusted");
        fs::create_dir(&trusted_dir).unwrap();
        keys::generate_key(&key_path, &trusted_dir.join("dev.pub")).unwrap();
        let key = keys::load_signing_key(&key_path).unwrap();
        Self { dir, key_path, key, trusted_dir }
    }

    pub fn trusted(&self) -> TrustedKeys {
        TrustedKeys::load(&self.trusted_dir).unwrap()
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// A signed package at `<scratch>/<name>`.
    pub fn signed_package(&self, name: &str, id: &str, version: &str) -> PathBuf {
        let dir = self.path(name);
        write_package(&dir, id, version);
        weft_pack::sign_package(&dir, &self.key).unwrap();
        dir
    }

    /// Runs the real `weft-pack` binary with this world's trusted keys and
    /// `store` as the first store root.
    pub fn cli(&self, store: &Path, args: &[&str]) -> Output {
        self.cli_with_env(store, args, &[("WEFT_AOT_DIR", &self.dir.path().join("aot"))])
    }

    /// [`World::cli`] with more environment variables.
    pub fn cli_with_env(&self, store: &Path, args: &[&str], env: &[(&str, &Path)]) -> Output {
        let mut command = Command::new(env!("CARGO_BIN_EXE_weft-pack"));
        command
            .args(args)
            .env("WEFT_TRUSTED_KEYS", &self.trusted_dir)
            .env("WEFT_APP_STORE", store)
            .env("HOME", self.dir.path())
            .env_remove("XDG_DATA_HOME");
        for (name, value) in env {
            command.env(name, value);
        }
        command.output().unwrap()
    }
}

/// The full error chain of a failed result, as the CLI prints it.
pub fn chain<T: std::fmt::Debug, E: std::error::Error + Send + Sync + 'static>(
    result: Result<T, E>,
) -> String {
    match result {
        Ok(value) => panic!("expected an error, got {value:?}"),
        Err(error) => format!("{:#}", anyhow::Error::from(error)),
    }
}

/// Flips one bit of the byte at `offset` of `path`.
pub fn flip_byte(path: &Path, offset: u64) {
    let mut bytes = fs::read(path).unwrap();
    bytes[offset as usize] ^= 0x01;
    fs::write(path, bytes).unwrap();
}
