//! `weft-pack check`'s last step: the package's component compiled and linked
//! the way weft-runtime links it for the manifest's grants, so a component
//! built for another `weft:app` world is refused before it is signed or
//! shipped, with the same words the runtime would use at launch.

use std::path::Path;

use anyhow::{Context, Result, anyhow};
use weft_manifest::{MANIFEST_FILE, Manifest};

/// Fails, naming the import and function, when the component in `package`
/// does not fit the world WEFT hosts.
pub fn check_world(package: &Path) -> Result<()> {
    let manifest = Manifest::load(&package.join(MANIFEST_FILE))?;
    let module = package.join(manifest.module.as_path());
    let bytes = std::fs::read(&module).with_context(|| format!("reading {}", module.display()))?;
    let engine = weft_aot::engine()?;
    let component = wasmtime::component::Component::new(&engine, &bytes)
        .map_err(anyhow::Error::from)
        .with_context(|| format!("compiling {}", module.display()))?;
    match weft_runtime::check_world(&engine, &component, &manifest) {
        Ok(_) => Ok(()),
        Err(error) => match error.downcast::<weft_runtime::Refusal>() {
            Ok(weft_runtime::Refusal::World(mismatch)) => Err(anyhow!(mismatch)),
            Ok(other) => Err(anyhow!(other)),
            Err(error) => Err(error),
        },
    }
}
