//! The `weft-mount-helper` binary: `mount <app-id>` or `unmount <app-id>`,
//! nothing else. It reads no environment variable and passes none on; every
//! path it uses is fixed (`SystemPaths::system`).

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use weft_mount_helper::{SystemPaths, mount, unmount};

/// Mounts a signed WEFT app image read-only through dm-verity.
#[derive(Parser)]
#[command(version, about)]
struct Cli {
    #[command(subcommand)]
    action: Action,
}

#[derive(Subcommand)]
enum Action {
    /// Verify the app's image, map it and mount it; prints the mount point.
    Mount {
        /// The app id (reverse-DNS, as in wapp.toml).
        app_id: String,
    },
    /// Unmount the app's image and remove its mapping.
    Unmount {
        /// The app id.
        app_id: String,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let paths = SystemPaths::system();
    let result = match &cli.action {
        Action::Mount { app_id } => {
            mount(&paths, app_id).map(|target| println!("{}", target.display()))
        }
        Action::Unmount { app_id } => unmount(&paths, app_id),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("weft-mount-helper: {error}");
            ExitCode::FAILURE
        }
    }
}
