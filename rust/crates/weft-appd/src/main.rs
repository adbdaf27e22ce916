//! The `weft-appd` daemon.

use std::process::ExitCode;

use clap::Parser;
use tokio::signal::unix::{SignalKind, signal};
use tracing_subscriber::EnvFilter;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use weft_appd::config::Config;
use weft_appd::daemon::Daemon;
use weft_appd::settings::Settings;

/// The WEFT OS session supervisor.
#[derive(Parser)]
#[command(version, about)]
struct Cli {
    /// The settings file (TOML; see docs/nix.md). Environment variables
    /// override it.
    #[arg(long)]
    config: Option<std::path::PathBuf>,
    /// Print every setting with its default as JSON, and exit.
    #[arg(long)]
    print_default_settings: bool,
}

/// Threads for blocking work (verifying a package, waiting for a portal's
/// first answers): as many as this machine's cores do the hashing, and a few
/// more for waits; each thread kept costs the daemon memory (its stack, its
/// allocator arena), and 50 launches at once took 50 of them.
const BLOCKING_THREADS: usize = 4;

fn main() -> ExitCode {
    #[expect(unsafe_code, reason = "mallopt is a C library call")]
    // SAFETY: the first statement of `main`, before any other thread exists;
    // it only sets one of the allocator's parameters.
    unsafe {
        // One allocator arena for every thread: each blocking thread's own
        // arena kept what a package's verification had freed.
        libc::mallopt(libc::M_ARENA_MAX, 1);
    }
    // One thread: children are spawned from it, and PR_SET_PDEATHSIG ties
    // their life to the thread that spawned them.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .max_blocking_threads(BLOCKING_THREADS)
        .build();
    match runtime {
        Ok(runtime) => runtime.block_on(run()),
        Err(error) => {
            eprintln!("weft-appd: cannot start its event loop: {error}");
            ExitCode::FAILURE
        }
    }
}

async fn run() -> ExitCode {
    let cli = Cli::parse();
    if cli.print_default_settings {
        let json = serde_json::to_string_pretty(&Settings::defaults()).expect("settings are JSON");
        println!("{json}");
        return ExitCode::SUCCESS;
    }
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
        let config = Config::load(cli.config.as_deref())?;
        let mut terminate = signal(SignalKind::terminate())?;
        let mut interrupt = signal(SignalKind::interrupt())?;
        let shutdown = async move {
            tokio::select! {
                _ = terminate.recv() => {}
                _ = interrupt.recv() => {}
            }
        };
        weft_appd::server::serve(Daemon::new(config)?, shutdown).await
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
