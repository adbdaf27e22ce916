//! The wasmtime [`Engine`] configuration every WEFT component runs under, and
//! the system's store of components compiled ahead of time.
//!
//! Components are compiled on the system side only: by `weft-pack install`, by
//! an image build step, or by the runtime on a cache miss. A package never
//! supplies machine code: a signature proves who wrote a package, not that its
//! native code respects the sandbox. Artifacts are keyed by the SHA-256 of the
//! component and a hash of the engine's compatibility settings, written
//! read-only, and checked against their recorded digest before wasmtime
//! deserializes them; anything that does not check out is recompiled.

use std::fs;
use std::hash::{Hash, Hasher};
use std::io::{self, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use sha2::{Digest, Sha256};
use wasmtime::component::Component;
use wasmtime::{Config, Engine, OptLevel};

/// Largest guest stack, in bytes. Part of the engine configuration, so it is
/// fixed for the whole system (artifacts depend on it).
pub const MAX_WASM_STACK_BYTES: usize = 512 * 1024;

/// The engine configuration shared by the packager and the runtime: the
/// component model, epoch interruption for CPU budgets, a bounded stack.
pub fn engine_config() -> Config {
    let mut config = Config::new();
    config
        .wasm_component_model(true)
        .epoch_interruption(true)
        .max_wasm_stack(MAX_WASM_STACK_BYTES)
        .cranelift_opt_level(OptLevel::Speed);
    config
}

/// A new engine with [`engine_config`].
pub fn engine() -> Result<Engine> {
    Engine::new(&engine_config())
        .map_err(anyhow::Error::from)
        .context("creating the wasmtime engine")
}

/// How [`ArtifactStore::load`] got the component.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Loaded {
    /// Deserialized from a stored artifact: no compilation at launch.
    Artifact,
    /// Compiled now and stored for next time.
    CompiledAndStored,
    /// Compiled now; storing failed (the text says why), so the next launch
    /// compiles again.
    CompiledNotStored(String),
}

/// A directory of precompiled components.
#[derive(Clone, Debug)]
pub struct ArtifactStore {
    dir: PathBuf,
}

impl ArtifactStore {
    /// The store in `dir` (created on first write).
    pub fn new(dir: &Path) -> Self {
        Self { dir: dir.to_owned() }
    }

    /// The directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The artifact file for `component` under `engine`.
    pub fn artifact_path(&self, engine: &Engine, component: &[u8]) -> PathBuf {
        self.dir.join(format!("{}.cwasm", artifact_key(engine, component)))
    }

    /// Compiles `component` and stores the artifact, replacing any old one.
    pub fn precompile(&self, engine: &Engine, component: &[u8]) -> Result<PathBuf> {
        let artifact = engine
            .precompile_component(component)
            .map_err(anyhow::Error::from)
            .context("compiling the component")?;
        let path = self.artifact_path(engine, component);
        self.store(&path, &artifact)
            .with_context(|| format!("storing the compiled component in {}", self.dir.display()))?;
        Ok(path)
    }

    /// The component, from its stored artifact when one exists, verifies and is
    /// compatible; otherwise compiled now (and stored if the directory allows).
    pub fn load(&self, engine: &Engine, component: &[u8]) -> Result<(Component, Loaded)> {
        let path = self.artifact_path(engine, component);
        match read_verified(&path) {
            Ok(artifact) => match deserialize(engine, &artifact) {
                Ok(loaded) => return Ok((loaded, Loaded::Artifact)),
                Err(error) => {
                    tracing::warn!(path = %path.display(), "recompiling: stored artifact rejected: {error:#}");
                }
            },
            Err(error) if error.kind() == io::ErrorKind::NotFound => {}
            Err(error) => tracing::warn!(path = %path.display(), "recompiling: {error}"),
        }
        let artifact = engine
            .precompile_component(component)
            .map_err(anyhow::Error::from)
            .context("compiling the component")?;
        let loaded = deserialize(engine, &artifact)?;
        let how = match self.store(&path, &artifact) {
            Ok(_) => Loaded::CompiledAndStored,
            Err(error) => Loaded::CompiledNotStored(format!("{error:#}")),
        };
        Ok((loaded, how))
    }

    /// Writes `artifact` and its digest atomically, read-only.
    fn store(&self, path: &Path, artifact: &[u8]) -> Result<PathBuf> {
        fs::create_dir_all(&self.dir)?;
        let digest = path.with_extension("sha256");
        write_read_only(&digest, hex::encode(Sha256::digest(artifact)).as_bytes())?;
        write_read_only(path, artifact)?;
        Ok(path.to_owned())
    }
}

/// Turns an artifact this system compiled back into a component.
fn deserialize(engine: &Engine, artifact: &[u8]) -> Result<Component> {
    #[expect(unsafe_code, reason = "wasmtime's only way to load precompiled code")]
    // SAFETY: `Component::deserialize` trusts the bytes to be machine code that
    // wasmtime itself produced. They are: every artifact reaching here was either
    // compiled by `precompile_component` in this process, or read from the
    // system's artifact store (written only by this code, read-only, in a
    // directory apps cannot write) and matched against the SHA-256 recorded when
    // it was written. Packages never supply artifacts. wasmtime additionally
    // rejects artifacts from another engine version or configuration.
    let component = unsafe { Component::deserialize(engine, artifact) };
    component.map_err(anyhow::Error::from).context("loading the compiled component")
}

/// Reads an artifact and checks it against its recorded digest.
fn read_verified(path: &Path) -> io::Result<Vec<u8>> {
    let artifact = fs::read(path)?;
    let recorded = fs::read_to_string(path.with_extension("sha256"))?;
    if hex::encode(Sha256::digest(&artifact)) != recorded.trim() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "the stored artifact does not match its recorded SHA-256",
        ));
    }
    Ok(artifact)
}

fn write_read_only(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let temporary = path.with_extension(format!("tmp{}", std::process::id()));
    let result = (|| {
        let mut file = fs::File::create(&temporary)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        fs::set_permissions(&temporary, fs::Permissions::from_mode(0o444))?;
        fs::rename(&temporary, path)
    })();
    if result.is_err() {
        let _ = fs::remove_file(&temporary);
    }
    result
}

/// `<sha256 of the component>-<hash of the engine's compatibility settings>`.
fn artifact_key(engine: &Engine, component: &[u8]) -> String {
    let mut hasher = DigestHasher(Sha256::new());
    engine.precompile_compatibility_hash().hash(&mut hasher);
    let engine_hash = hex::encode(&hasher.0.finalize()[..8]);
    format!("{}-{engine_hash}", hex::encode(Sha256::digest(component)))
}

/// Feeds `Hash` output into SHA-256, so the key is stable across processes
/// (std's default hasher is randomly seeded).
struct DigestHasher(Sha256);

impl Hasher for DigestHasher {
    fn finish(&self) -> u64 {
        let digest = self.0.clone().finalize();
        u64::from_le_bytes(digest[..8].try_into().expect("SHA-256 has 32 bytes"))
    }

    fn write(&mut self, bytes: &[u8]) {
        self.0.update(bytes);
    }
}
