//! The `weft-file-portal` process: one per session with file access.

use std::os::fd::AsFd;
use std::os::unix::net::UnixListener;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use clap::Parser;
use tracing_subscriber::EnvFilter;
use weft_file_portal::{Root, readonly, serve};

/// Opens paths beneath a session's allowed roots and hands back descriptors.
#[derive(Parser)]
#[command(version, about)]
struct Cli {
    /// The socket to bind and listen on.
    #[arg(long, required_unless_present = "listen_on_stdin")]
    socket: Option<PathBuf>,
    /// Listen on the socket given as standard input, bound by the caller (who
    /// can connect at once, without waiting for the portal to bind).
    #[arg(long, conflicts_with = "socket")]
    listen_on_stdin: bool,
    /// The session this portal serves (for the log).
    #[arg(long)]
    session: String,
    /// A root as NAME=DIR:rw or NAME=DIR:ro; repeatable.
    #[arg(long = "root", value_name = "NAME=DIR:MODE")]
    roots: Vec<String>,
}

fn parse_root(spec: &str) -> anyhow::Result<(String, PathBuf, bool)> {
    let (name, rest) =
        spec.split_once('=').ok_or_else(|| anyhow::anyhow!("{spec:?} is not NAME=DIR:MODE"))?;
    let (dir, mode) =
        rest.rsplit_once(':').ok_or_else(|| anyhow::anyhow!("{spec:?} has no :rw or :ro"))?;
    let writable = match mode {
        "rw" => true,
        "ro" => false,
        other => anyhow::bail!("mode {other:?} is neither rw nor ro"),
    };
    Ok((name.to_owned(), PathBuf::from(dir), writable))
}

fn main() -> ExitCode {
    if std::env::args_os().nth(1).is_some_and(|arg| arg == readonly::HELPER_FLAG) {
        return match readonly::helper(&std::env::args().skip(2).collect::<Vec<_>>()) {
            Ok(()) => ExitCode::SUCCESS,
            Err(error) => {
                eprintln!("{error:#}");
                ExitCode::FAILURE
            }
        };
    }
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| EnvFilter::new("weft_file_portal=info")),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let cli = Cli::parse();
    let result = (|| {
        let roots = Root::open_all(
            cli.roots.iter().map(|spec| parse_root(spec)).collect::<anyhow::Result<Vec<_>>>()?,
        )?;
        let listener = match &cli.socket {
            Some(socket) => {
                let _ = std::fs::remove_file(socket);
                let listener = UnixListener::bind(socket)?;
                std::fs::set_permissions(
                    socket,
                    std::os::unix::fs::PermissionsExt::from_mode(0o600),
                )?;
                listener
            }
            None => {
                let stdin = std::io::stdin().as_fd().try_clone_to_owned()?;
                if rustix::fs::fstat(&stdin)?.st_mode & 0o170000 != 0o140000 {
                    anyhow::bail!("--listen-on-stdin: standard input is not a socket");
                }
                UnixListener::from(stdin)
            }
        };
        tracing::info!(session = cli.session, roots = roots.len(), "weft-file-portal listening");
        serve(&listener, Arc::new(roots), &cli.session)
    })();
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("weft-file-portal: {error:#}");
            ExitCode::FAILURE
        }
    }
}
