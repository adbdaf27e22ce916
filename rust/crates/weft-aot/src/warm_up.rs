//! The warm-up artifact: a small component of the system's own
//! (`warm_up.wat`), compiled by the installer into the artifact store beside
//! the apps' artifacts. A spare runtime loads it and drops it while it waits,
//! so that what a process pays only at its first load (the loader's code
//! paged in, the heap grown) is paid before its app is handed over, not
//! after. It is checked like every artifact, and nothing of it ever runs.

use wasmtime::Engine;

use crate::{ArtifactStore, LoadError};

/// The SHA-256 of the warm-up component (`warm_up.wat` as a binary
/// component), hex: its artifact's key. A test holds it to the text.
pub const WARM_UP_COMPONENT_SHA256: &str =
    "a93c4d3e827d6a722ce0d7caba597e744f79011a512bf9b6fe4512dd3f99a6da";

/// The warm-up component's text.
#[cfg(any(feature = "compiler", test))]
const WARM_UP_COMPONENT_TEXT: &str = include_str!("warm_up.wat");

/// The warm-up component, as a binary component.
#[cfg(any(feature = "compiler", test))]
fn warm_up_component() -> Vec<u8> {
    wat::parse_str(WARM_UP_COMPONENT_TEXT).expect("warm_up.wat is a valid component")
}

impl ArtifactStore {
    /// Loads the warm-up artifact and drops it. Fails as [`ArtifactStore::load`]
    /// does: `Missing` when the installer has not stored it yet, `Rejected`
    /// when it does not match its recorded digest or this engine.
    pub fn warm_up(&self, engine: &Engine) -> Result<(), LoadError> {
        self.load(engine, WARM_UP_COMPONENT_SHA256).map(drop)
    }

    /// Stores the warm-up artifact unless one that loads is there already.
    #[cfg(feature = "compiler")]
    pub(crate) fn ensure_warm_up(&self, engine: &Engine) -> anyhow::Result<()> {
        if self.warm_up(engine).is_ok() {
            return Ok(());
        }
        self.precompile_one(engine, &warm_up_component()).map(drop)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_warm_up_key_is_the_digest_of_its_text() {
        assert_eq!(crate::component_digest(&warm_up_component()), WARM_UP_COMPONENT_SHA256);
    }
}
