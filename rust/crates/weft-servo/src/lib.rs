//! WEFT's web shells on embedded Servo 0.7: `weft-app-shell` shows one app's
//! `ui/` (from its verified, read-only package) as an `application` window,
//! `weft-servo-shell` shows the system UI as the `panel`. Both render with
//! Servo's software context, show frames on weft-compositor through
//! [`weft_shell_core::window::ShellWindow`], serve their pages through
//! [`scheme::ShellScheme`] and carry the page's messages over
//! [`weft_shell_core::bridge`].

pub mod app;
pub mod host;
pub mod keys;
pub mod push;
pub mod sandbox;
pub mod scheme;
pub mod shader_cache;
pub mod system;

/// What [`init`] prepared for the shell.
pub struct Prepared {
    /// The engine's private scratch directory (`TMPDIR`), removed on drop.
    pub scratch: tempfile::TempDir,
    /// The owner's shader cache, which the sandbox must let the shell write;
    /// `None` when there is no cache root or it cannot be made.
    pub shader_cache: Option<std::path::PathBuf>,
}

/// Prepares the process; call it before any thread starts. Logs go to stderr
/// (the session's log in weft-appd) at `RUST_LOG`, default `info`. The
/// engine's scratch files (its storage) go to a fresh private directory,
/// `TMPDIR`, the only place the sandbox lets it write besides `owner`'s
/// shader cache ([`shader_cache`]), which Mesa is pointed at.
pub fn init(owner: shader_cache::Owner<'_>) -> std::io::Result<Prepared> {
    let scratch = tempfile::Builder::new().prefix("weft-shell-").tempdir()?;
    let wanted =
        shader_cache::root(|name| std::env::var(name).ok()).map(|root| owner.directory(&root));
    let made = wanted.as_deref().map(std::fs::create_dir_all);
    let shader_cache = wanted.clone().filter(|_| matches!(made, Some(Ok(()))));
    // SAFETY: nothing else runs yet: the shell calls this first, before any
    // thread exists, so no other thread can read the environment meanwhile.
    #[expect(unsafe_code, reason = "setting the environment is unsafe while other threads run")]
    unsafe {
        for (name, value) in shader_cache::mesa_environment(shader_cache.as_deref()) {
            std::env::set_var(name, value);
        }
        std::env::set_var("TMPDIR", scratch.path());
    }
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).init();
    match (&wanted, made) {
        (Some(dir), Some(Err(error))) => {
            tracing::warn!("no shader cache: cannot make {}: {error}", dir.display());
        }
        (None, _) => tracing::info!("no shader cache: no CACHE_DIRECTORY, XDG_CACHE_HOME or HOME"),
        _ => {}
    }
    Ok(Prepared { scratch, shader_cache })
}
