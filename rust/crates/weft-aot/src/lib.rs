//! The wasmtime [`Engine`] configuration every WEFT component runs under, and
//! the system's store of components compiled ahead of time.
//!
//! Components are compiled on the system side only, by the installer
//! (`weft-pack install`, or `weft-pack precompile` when the runtime finds no
//! artifact for an image's component): the `compiler` feature, which only the
//! installer enables, links Cranelift. The runtime links this crate without it
//! and can only load artifacts. A package never supplies machine code: a
//! signature proves who wrote a package, not that its native code respects the
//! sandbox. Artifacts are keyed by the SHA-256 of the component and the
//! engine's identity, written read-only, and checked against their recorded
//! digest before wasmtime deserializes them (wasmtime itself then refuses an
//! artifact of another engine version or configuration).

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use sha2::{Digest, Sha256};
use wasmtime::component::Component;
use wasmtime::{Config, Engine};
use weft_protocol::artifact::{self, ArtifactError, FileIdentity};

mod warm_up;

pub use warm_up::WARM_UP_COMPONENT_SHA256;

/// Largest guest stack, in bytes. Part of the engine configuration, so it is
/// fixed for the whole system (artifacts depend on it).
pub const MAX_WASM_STACK_BYTES: usize = 512 * 1024;

/// Largest component the runtime loads and the installer compiles, in bytes.
pub const MAX_COMPONENT_BYTES: u64 = 256 << 20;

/// How the installer's error begins when a component does not compile (it is
/// not a valid component): the runtime tells this apart from an installer
/// that could not run or store.
pub const COMPILING_THE_COMPONENT: &str = "compiling the component";

/// What the artifacts' keys say about the engine that compiled them: the
/// wasmtime version and [`engine_config`]'s settings. Change it with either,
/// so old artifacts are no longer found (wasmtime would refuse them anyway),
/// and `weft_protocol::runtime::ARTIFACT_ENGINE_TAG` with it (a test says so).
pub const ENGINE_IDENTITY: &str =
    "wasmtime 48.0.8; component-model; epoch-interruption; max-wasm-stack 524288; opt speed";

/// The engine configuration shared by the installer and the runtime: the
/// component model, epoch interruption for CPU budgets, a bounded stack (and,
/// where there is a compiler, Cranelift optimising for speed).
pub fn engine_config() -> Config {
    let mut config = Config::new();
    config.wasm_component_model(true).epoch_interruption(true).max_wasm_stack(MAX_WASM_STACK_BYTES);
    #[cfg(feature = "compiler")]
    config.cranelift_opt_level(wasmtime::OptLevel::Speed);
    config
}

/// A new engine with [`engine_config`].
pub fn engine() -> Result<Engine> {
    Engine::new(&engine_config())
        .map_err(anyhow::Error::from)
        .context("creating the wasmtime engine")
}

/// The SHA-256 of a component, hex: the first half of its artifact's key.
pub fn component_digest(component: &[u8]) -> String {
    hex::encode(Sha256::digest(component))
}

/// Why [`ArtifactStore::load`] found no usable artifact.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// No artifact was ever stored for this component.
    #[error("no precompiled artifact at {}", path.display())]
    Missing {
        /// Where it would be.
        path: PathBuf,
    },
    /// An artifact is stored but cannot be used (tampered, truncated, or
    /// compiled by another engine): the text says which.
    #[error("stored artifact rejected: {reason}")]
    Rejected {
        /// Why.
        reason: String,
    },
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

    /// The artifact file for the component whose SHA-256 is `component_digest`
    /// (hex, as [`component_digest`] gives it).
    pub fn artifact_path(&self, component_digest: &str) -> PathBuf {
        self.dir.join(weft_protocol::runtime::artifact_file_name(component_digest))
    }

    /// The component whose SHA-256 is `component_digest`, from its stored
    /// artifact, once that verifies against its recorded digest and wasmtime
    /// accepts it for `engine`. Nothing is compiled here, and nothing copied:
    /// the artifact is hashed and loaded where the page cache holds it.
    pub fn load(&self, engine: &Engine, component_digest: &str) -> Result<Component, LoadError> {
        let (artifact, _) =
            artifact::open_checked(&self.artifact_path(component_digest)).map_err(|error| {
                match error {
                    ArtifactError::Missing { path } => LoadError::Missing { path },
                    rejected @ ArtifactError::Rejected { .. } => LoadError::Rejected {
                        reason: format!("{:#}", anyhow::Error::from(rejected)),
                    },
                }
            })?;
        deserialize(engine, &artifact)
            .map_err(|error| LoadError::Rejected { reason: format!("{error:#}") })
    }

    /// The component whose SHA-256 is `component_digest`, from `artifact`:
    /// its artifact in this store as the supervisor opened it and checked it
    /// against its recorded digest ([`artifact::open_checked`], once per file,
    /// not at every launch). It must be the very file this store holds for
    /// that digest (same device and inode), else it is rejected unread.
    pub fn load_checked(
        &self,
        engine: &Engine,
        component_digest: &str,
        artifact: &fs::File,
    ) -> Result<Component, LoadError> {
        let path = self.artifact_path(component_digest);
        let stored = match fs::metadata(&path) {
            Ok(metadata) => FileIdentity::of(&metadata),
            Err(error) if error.kind() == io::ErrorKind::NotFound => {
                return Err(LoadError::Missing { path });
            }
            Err(error) => return Err(LoadError::Rejected { reason: error.to_string() }),
        };
        let given = artifact
            .metadata()
            .map_err(|error| LoadError::Rejected { reason: error.to_string() })?;
        if !FileIdentity::of(&given).same_file(&stored) {
            return Err(LoadError::Rejected {
                reason: format!("the artifact handed over is not {}", path.display()),
            });
        }
        deserialize(engine, artifact)
            .map_err(|error| LoadError::Rejected { reason: format!("{error:#}") })
    }

    /// Compiles `component` and stores the artifact, replacing any old one;
    /// returns its path. Fails when `component` is not a valid component.
    /// The store gets its warm-up artifact with its first one
    /// ([`ArtifactStore::warm_up`]).
    #[cfg(feature = "compiler")]
    pub fn precompile(&self, engine: &Engine, component: &[u8]) -> Result<PathBuf> {
        let path = self.precompile_one(engine, component)?;
        self.ensure_warm_up(engine).context("storing the warm-up artifact")?;
        Ok(path)
    }

    /// [`ArtifactStore::precompile`] of `component` alone.
    #[cfg(feature = "compiler")]
    fn precompile_one(&self, engine: &Engine, component: &[u8]) -> Result<PathBuf> {
        let artifact = engine
            .precompile_component(component)
            .map_err(anyhow::Error::from)
            .context(COMPILING_THE_COMPONENT)?;
        let path = self.artifact_path(&component_digest(component));
        self.store(&path, &artifact)
            .with_context(|| format!("storing the compiled component in {}", self.dir.display()))?;
        Ok(path)
    }

    /// Writes `artifact` and its digest atomically, read-only.
    #[cfg(feature = "compiler")]
    fn store(&self, path: &Path, artifact: &[u8]) -> Result<()> {
        fs::create_dir_all(&self.dir)?;
        let digest = path.with_extension("sha256");
        write_read_only(&digest, artifact::recorded_digest(artifact).as_bytes())?;
        write_read_only(path, artifact)?;
        Ok(())
    }
}
/// Turns an artifact this system compiled back into a component, mapping the
/// open file `artifact` (through its descriptor: the file checked, not a path
/// that might name another by now).
fn deserialize(engine: &Engine, artifact: &fs::File) -> Result<Component> {
    use std::os::fd::AsRawFd;
    let by_descriptor = format!("/proc/self/fd/{}", artifact.as_raw_fd());
    #[expect(unsafe_code, reason = "wasmtime's only way to load precompiled code")]
    // SAFETY: `Component::deserialize_file` trusts the file to be machine code
    // that wasmtime itself produced, and to stay unchanged while mapped. It
    // is: every artifact reaching here was opened in the system's artifact
    // store (written only by the installer through `ArtifactStore::precompile`,
    // read-only and replaced only by rename, in a directory apps cannot write)
    // and matched against the SHA-256 recorded when it was written, here or,
    // for `load_checked`, by the supervisor that opened it there. Packages
    // never supply artifacts. wasmtime additionally rejects artifacts from
    // another engine version or configuration.
    let component = unsafe { Component::deserialize_file(engine, &by_descriptor) };
    component.map_err(anyhow::Error::from).context("loading the compiled component")
}

#[cfg(feature = "compiler")]
fn write_read_only(path: &Path, bytes: &[u8]) -> io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::PermissionsExt;

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_artifact_names_engine_tag_is_the_engine_identitys_digest() {
        let tag = hex::encode(&Sha256::digest(ENGINE_IDENTITY.as_bytes())[..8]);
        assert_eq!(weft_protocol::runtime::ARTIFACT_ENGINE_TAG, tag);
    }
}
