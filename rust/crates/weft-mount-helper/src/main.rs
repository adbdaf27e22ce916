//! The `weft-mount-helper` binary: `serve` (the system service behind
//! `weft-mount.socket`), or `mount <app-id>` / `unmount <app-id>` once, run
//! as root. It reads no environment variable and passes none on; every path
//! it uses is fixed (`SystemPaths::system`).

use std::fs;
use std::os::fd::AsFd;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixListener;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use weft_mount_helper::{SystemPaths, mount, service, unmount};

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
    /// Answer mount and unmount requests on a Unix socket (docs/protocol.md,
    /// "Mount service"): the listening socket systemd passes as standard
    /// input, or one made at `--listen`.
    Serve {
        /// Make the socket here (mode 0600) instead of taking it from systemd.
        #[arg(long, value_name = "PATH")]
        listen: Option<PathBuf>,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let paths = SystemPaths::system();
    let result = match &cli.action {
        Action::Mount { app_id } => mount(&paths, app_id)
            .map(|target| println!("{}", target.display()))
            .map_err(|error| error.to_string()),
        Action::Unmount { app_id } => unmount(&paths, app_id).map_err(|error| error.to_string()),
        Action::Serve { listen } => serve(listen.as_ref(), &paths),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("weft-mount-helper: {error}");
            ExitCode::FAILURE
        }
    }
}

fn serve(listen: Option<&PathBuf>, paths: &SystemPaths) -> Result<(), String> {
    let listener = match listen {
        Some(path) => {
            // Made under another name and renamed once it listens (mode 0600):
            // a client never finds a socket that would refuse it.
            let making = path.with_extension("new");
            let _ = fs::remove_file(&making);
            UnixListener::bind(&making)
                .and_then(|listener| {
                    fs::set_permissions(&making, fs::Permissions::from_mode(0o600))?;
                    fs::rename(&making, path)?;
                    Ok(listener)
                })
                .map_err(|error| format!("listening on {}: {error}", path.display()))?
        }
        None => std::io::stdin()
            .as_fd()
            .try_clone_to_owned()
            .map(UnixListener::from)
            .map_err(|error| format!("standard input: {error}"))?,
    };
    let error = service::serve(&listener, paths);
    Err(match listen {
        Some(path) => format!("serving on {}: {error}", path.display()),
        None => format!(
            "standard input is not a listening socket ({error}): run it from weft-mount.socket, or give --listen"
        ),
    })
}
