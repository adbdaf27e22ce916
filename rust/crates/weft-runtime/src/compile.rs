//! A component without a stored artifact (an app of an image, launched for
//! the first time) is compiled by the installer, not here: this process links
//! no compiler. The runtime hands the very bytes it verified to
//! `weft-pack precompile` and waits for it, before it enters its sandbox.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{Context, Result, anyhow};

/// The installer beside this executable: where the runtime looks for it
/// unless `--compiler` names another.
pub(crate) fn installer_beside_this_executable() -> PathBuf {
    std::env::current_exe()
        .ok()
        .and_then(|exe| exe.parent().map(|dir| dir.join("weft-pack")))
        .unwrap_or_else(|| PathBuf::from("weft-pack"))
}

/// How compiling a component through the installer went wrong.
#[derive(Debug, thiserror::Error)]
pub enum CompileError {
    /// The installer could not compile the component: it is not a valid
    /// component.
    #[error("{0}")]
    Invalid(String),
    /// The installer did not run or could not store the artifact.
    #[error(transparent)]
    Installer(#[from] anyhow::Error),
}

/// Has `installer` compile `component` into `aot_dir`.
pub fn compile_with_installer(
    installer: &Path,
    aot_dir: &Path,
    component: &[u8],
) -> Result<(), CompileError> {
    let mut child = Command::new(installer)
        .arg("precompile")
        .arg("--aot-dir")
        .arg(aot_dir)
        .env_remove("WEFT_AOT_DIR")
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .with_context(|| {
            format!("running the installer's compiler {} precompile", installer.display())
        })?;
    // The installer reads everything before it answers: a write error means
    // it ended early, and its status and message say why.
    let _ = child.stdin.take().expect("stdin is piped").write_all(component);
    let output = child.wait_with_output().context("waiting for the installer's compiler")?;
    if output.status.success() {
        return Ok(());
    }
    let said = String::from_utf8_lossy(&output.stderr).trim().to_owned();
    let said = said.strip_prefix("weft-pack: ").unwrap_or(&said).to_owned();
    if said.starts_with(weft_aot::COMPILING_THE_COMPONENT) {
        Err(CompileError::Invalid(said))
    } else {
        Err(CompileError::Installer(anyhow!(
            "{} precompile failed ({}): {said}",
            installer.display(),
            output.status
        )))
    }
}
