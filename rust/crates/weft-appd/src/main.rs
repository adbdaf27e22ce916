//! The `weft-appd` daemon.

use std::process::ExitCode;

use tokio::signal::unix::{SignalKind, signal};
use tracing_subscriber::EnvFilter;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use weft_appd::config::Config;
use weft_appd::daemon::Daemon;

// One thread: children are spawned from it, and PR_SET_PDEATHSIG ties their life
// to the thread that spawned them.
#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    // Structured fields go to the journal when there is one (a systemd
    // machine); elsewhere, and when the journal cannot be reached, to stderr.
    let journald = std::path::Path::new("/run/systemd/journal/socket")
        .exists()
        .then(tracing_journald::layer)
        .and_then(Result::ok);
    let stderr = journald.is_none().then(|| {
        tracing_subscriber::fmt::layer()
            .with_writer(std::io::stderr)
            .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
    });
    tracing_subscriber::registry()
        .with(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("weft_appd=info")),
        )
        .with(journald)
        .with(stderr)
        .init();
    let result = async {
        let config = Config::from_env()?;
        let mut terminate = signal(SignalKind::terminate())?;
        let mut interrupt = signal(SignalKind::interrupt())?;
        let shutdown = async move {
            tokio::select! {
                _ = terminate.recv() => {}
                _ = interrupt.recv() => {}
            }
        };
        weft_appd::server::serve(Daemon::new(config), shutdown).await
    }
    .await;
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("weft-appd: {error:#}");
            ExitCode::FAILURE
        }
    }
}
