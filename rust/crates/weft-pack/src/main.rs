//! The `weft-pack` command line.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use tracing_subscriber::EnvFilter;

/// The WEFT OS package tool.
#[derive(Parser)]
#[command(version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Checks a package directory (manifest, component, imports, UI) and prints
    /// what it holds.
    Inspect {
        /// The package directory (holding wapp.toml).
        package: PathBuf,
    },
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("weft_pack=info")),
        )
        .with_writer(std::io::stderr)
        .init();
    let result = match Cli::parse().command {
        Command::Inspect { package } => weft_pack::inspect(&package).map(|inspection| {
            println!("{inspection}");
        }),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("weft-pack: {:#}", anyhow::Error::from(error));
            ExitCode::FAILURE
        }
    }
}
