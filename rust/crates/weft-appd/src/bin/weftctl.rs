//! `weftctl`: the operator's view of the session supervisor.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use clap::{Parser, Subcommand};
use weft_appd::client::Client;
use weft_protocol::appd::{Reply, Request};

/// Talks to weft-appd over its Unix socket.
#[derive(Parser)]
#[command(version, about)]
struct Cli {
    /// The control socket; default $XDG_RUNTIME_DIR/weft/appd.sock.
    #[arg(long)]
    socket: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Lists the sessions.
    Ps {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Launches an installed app and waits until it is READY or stopped.
    Launch {
        /// The app id.
        app_id: String,
    },
    /// Terminates a session.
    Kill {
        /// The session.
        session: u64,
    },
    /// Lists the installed apps.
    Installed,
    /// Prints every event until interrupted.
    Watch,
}

fn socket_path(flag: Option<PathBuf>) -> Result<PathBuf> {
    match flag {
        Some(path) => Ok(path),
        None => Ok(PathBuf::from(
            std::env::var_os("XDG_RUNTIME_DIR").context("XDG_RUNTIME_DIR is not set")?,
        )
        .join("weft/appd.sock")),
    }
}

async fn run(cli: Cli) -> Result<()> {
    let mut client = Client::connect(&socket_path(cli.socket)?).await?;
    match cli.command {
        Command::Ps { json } => match client.request(&Request::QueryRunning).await? {
            Reply::RunningApps { sessions } if json => {
                println!("{}", serde_json::to_string_pretty(&sessions)?);
            }
            Reply::RunningApps { sessions } => {
                println!(
                    "{:>7}  {:<32} {:<9} {:>8} {:>9}  REASON",
                    "SESSION", "APP", "STATE", "PID", "UPTIME"
                );
                for info in sessions {
                    let pid = info.pid.map_or_else(|| "-".to_owned(), |pid| pid.to_string());
                    let state = format!("{:?}", info.state).to_lowercase();
                    let uptime = format!("{:.1}s", info.uptime_ms as f64 / 1000.0);
                    println!(
                        "{:>7}  {:<32} {state:<9} {pid:>8} {uptime:>9}  {}",
                        info.session,
                        info.app_id,
                        info.reason.unwrap_or_default()
                    );
                }
            }
            other => bail!("unexpected answer {other:?}"),
        },
        Command::Launch { app_id } => {
            let session =
                match client.request(&Request::LaunchApp { app_id: app_id.clone() }).await? {
                    Reply::LaunchAck { session, .. } => session,
                    Reply::Error { code, message } => bail!("{code:?}: {message}"),
                    other => bail!("unexpected answer {other:?}"),
                };
            println!("session {session}: starting {app_id}");
            loop {
                match client.next().await? {
                    Reply::AppReady { session: ready, .. } if ready == session => {
                        println!("session {session}: ready");
                        return Ok(());
                    }
                    Reply::AppState { session: stopped, reason, state, .. }
                        if stopped == session
                            && state == weft_protocol::appd::SessionState::Stopped =>
                    {
                        bail!("session {session} stopped: {}", reason.unwrap_or_default());
                    }
                    _ => {}
                }
            }
        }
        Command::Kill { session } => {
            match client.request(&Request::TerminateApp { session }).await? {
                Reply::Ok => println!("session {session}: stopping"),
                Reply::Error { code, message } => bail!("{code:?}: {message}"),
                other => bail!("unexpected answer {other:?}"),
            }
        }
        Command::Installed => match client.request(&Request::QueryInstalledApps).await? {
            Reply::InstalledApps { apps } => {
                for app in apps {
                    match app.error {
                        None => println!(
                            "{:<32} {:<10} {}",
                            app.app_id,
                            app.version.unwrap_or_default(),
                            app.name.unwrap_or_default()
                        ),
                        Some(error) => println!("{:<32} INVALID    {error}", app.app_id),
                    }
                }
            }
            other => bail!("unexpected answer {other:?}"),
        },
        Command::Watch => loop {
            println!("{}", serde_json::to_string(&client.next().await?)?);
        },
    }
    Ok(())
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    match run(Cli::parse()).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("weftctl: {error:#}");
            ExitCode::FAILURE
        }
    }
}
