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
pub mod system;

/// Prepares the process; the first call of `main`, before any thread starts.
/// Logs go to stderr (the session's log in weft-appd) at `RUST_LOG`, default
/// `info`. The engine's scratch files (its storage) go to a fresh private
/// directory, `TMPDIR`, the only place the sandbox lets it write; it is
/// removed when the returned guard drops.
pub fn init() -> std::io::Result<tempfile::TempDir> {
    let scratch = tempfile::Builder::new().prefix("weft-shell-").tempdir()?;
    // Mesa would write its shader cache under $HOME, and the sandbox allows no
    // writes.
    // SAFETY: nothing else runs yet: `main` calls this first, before any
    // thread exists, so no other thread can read the environment meanwhile.
    #[expect(unsafe_code, reason = "setting the environment is unsafe while other threads run")]
    unsafe {
        std::env::set_var("MESA_SHADER_CACHE_DISABLE", "true");
        std::env::set_var("TMPDIR", scratch.path());
    }
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).init();
    Ok(scratch)
}
