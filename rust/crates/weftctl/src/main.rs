//! `weftctl`: the operator's view of the session supervisor, a client of
//! weft-appd's operator socket over `weft-protocol`'s client (it shares no code
//! with the daemon).

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use clap::{CommandFactory, Parser, Subcommand};
use weft_protocol::appd::{Event, LogLine, LogStream, Reply, Request, SessionInfo, SessionState};
use weft_protocol::appd_client::Client;

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
    /// Terminates a session, then launches its app again in a new one.
    Restart {
        /// The session.
        session: u64,
    },
    /// Sends a message to a session's app as its UI would, and prints the
    /// app's first answer.
    Send {
        /// The session.
        session: u64,
        /// The message.
        message: String,
        /// Seconds to wait for the answer.
        #[arg(long, default_value_t = 10.0)]
        timeout: f64,
    },
    /// Prints a session's output (kept lines, newest last).
    Logs {
        /// The session.
        session: u64,
        /// Keep printing new lines until interrupted.
        #[arg(short, long)]
        follow: bool,
    },
    /// Lists the installed apps.
    Installed,
    /// Allows the next launch of an app to be of an older version than one
    /// launched before (weft-appd refuses downgrades otherwise).
    AllowDowngrade {
        /// The app id.
        app_id: String,
    },
    /// Prints every event until interrupted.
    Watch,
    /// Shows live per-session CPU, memory, IPC counts and restarts.
    Top {
        /// Seconds between refreshes.
        #[arg(long, default_value_t = 1.0)]
        interval: f64,
        /// Stop after this many refreshes (default: until interrupted).
        #[arg(short = 'n', long)]
        iterations: Option<u64>,
    },
    /// Prints a completion script for a shell.
    Completions {
        /// The shell.
        shell: clap_complete::Shell,
    },
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

/// Launches `app_id` and waits until it is READY or stopped.
async fn launch(client: &mut Client, app_id: &str) -> Result<()> {
    let session = match client.request(&Request::LaunchApp { app_id: app_id.to_owned() }).await? {
        Reply::LaunchAck { session, .. } => session,
        Reply::Error { code, message } => bail!("{code:?}: {message}"),
        other => bail!("unexpected answer {other:?}"),
    };
    println!("session {session}: starting {app_id}");
    loop {
        match client.next_event().await? {
            Event::AppReady { session: ready, .. } if ready == session => {
                println!("session {session}: ready");
                return Ok(());
            }
            Event::AppState { session: stopped, reason, state: SessionState::Stopped, .. }
                if stopped == session =>
            {
                bail!("session {session} stopped: {}", reason.unwrap_or_default());
            }
            _ => {}
        }
    }
}

async fn terminate(client: &mut Client, session: u64) -> Result<()> {
    match client.request(&Request::TerminateApp { session }).await? {
        Reply::Ok => Ok(()),
        Reply::Error { code, message } => bail!("{code:?}: {message}"),
        other => bail!("unexpected answer {other:?}"),
    }
}

/// Waits for the session's Stopped event and returns its reason.
async fn wait_stopped(client: &mut Client, session: u64) -> Result<String> {
    loop {
        if let Event::AppState { session: from, state: SessionState::Stopped, reason, .. } =
            client.next_event().await?
            && from == session
        {
            return Ok(reason.unwrap_or_default());
        }
    }
}

fn print_log_line(line: &LogLine) {
    let stream = match line.stream {
        LogStream::Stdout => "out",
        LogStream::Stderr => "err",
        LogStream::Runtime => "run",
    };
    println!("{:>10.3} {stream} {}", line.at_ms as f64 / 1000.0, line.text);
}

fn state_name(state: SessionState) -> &'static str {
    match state {
        SessionState::Starting => "starting",
        SessionState::Running => "running",
        SessionState::Stopping => "stopping",
        SessionState::Stopped => "stopped",
    }
}

fn mebibytes(bytes: Option<u64>) -> String {
    bytes.map_or_else(|| "-".to_owned(), |bytes| format!("{:.1}M", bytes as f64 / 1048576.0))
}

/// Refreshes a table of the live sessions: CPU as a share of one core over the
/// last interval, memory, IPC messages each way, restarts.
async fn top(client: &mut Client, interval: Duration, iterations: Option<u64>) -> Result<()> {
    let mut previous: HashMap<u64, (u64, Instant)> = HashMap::new();
    let mut shown = 0;
    loop {
        let sessions: Vec<SessionInfo> = match client.request(&Request::QueryRunning).await? {
            Reply::RunningApps { sessions } => sessions,
            other => bail!("unexpected answer {other:?}"),
        };
        let now = Instant::now();
        if std::io::IsTerminal::is_terminal(&std::io::stdout()) {
            print!("\x1b[H\x1b[2J");
        }
        println!(
            "{:>7}  {:<32} {:<9} {:>6} {:>9} {:>8} {:>8} {:>8}",
            "SESSION", "APP", "STATE", "CPU%", "MEMORY", "IPC-OUT", "IPC-IN", "RESTARTS"
        );
        for info in sessions.iter().filter(|info| info.state != SessionState::Stopped) {
            let cpu = match (info.cpu_ms, previous.get(&info.session)) {
                (Some(cpu_ms), Some(&(was_ms, was_at))) => {
                    let wall = now.duration_since(was_at).as_secs_f64() * 1000.0;
                    format!("{:.1}", cpu_ms.saturating_sub(was_ms) as f64 * 100.0 / wall.max(1.0))
                }
                _ => "-".to_owned(),
            };
            println!(
                "{:>7}  {:<32} {:<9} {cpu:>6} {:>9} {:>8} {:>8} {:>8}",
                info.session,
                info.app_id,
                state_name(info.state),
                mebibytes(info.memory_bytes),
                info.ipc_to_ui,
                info.ipc_to_app,
                info.restarts
            );
        }
        previous =
            sessions.iter().filter_map(|info| Some((info.session, (info.cpu_ms?, now)))).collect();
        shown += 1;
        if iterations.is_some_and(|iterations| shown >= iterations) {
            return Ok(());
        }
        tokio::time::sleep(interval).await;
    }
}

async fn run(cli: Cli) -> Result<()> {
    if let Command::Completions { shell } = cli.command {
        clap_complete::generate(shell, &mut Cli::command(), "weftctl", &mut std::io::stdout());
        return Ok(());
    }
    let mut client = Client::connect(&socket_path(cli.socket)?).await?;
    match cli.command {
        Command::Ps { json } => match client.request(&Request::QueryRunning).await? {
            Reply::RunningApps { sessions } if json => {
                println!("{}", serde_json::to_string_pretty(&sessions)?);
            }
            Reply::RunningApps { sessions } => {
                println!(
                    "{:>7}  {:<32} {:<9} {:>8} {:>9} {:>9}  REASON",
                    "SESSION", "APP", "STATE", "PID", "UPTIME", "MEMORY"
                );
                for info in sessions {
                    let pid = info.pid.map_or_else(|| "-".to_owned(), |pid| pid.to_string());
                    let uptime = format!("{:.1}s", info.uptime_ms as f64 / 1000.0);
                    println!(
                        "{:>7}  {:<32} {:<9} {pid:>8} {uptime:>9} {:>9}  {}",
                        info.session,
                        info.app_id,
                        state_name(info.state),
                        mebibytes(info.memory_bytes),
                        info.reason.unwrap_or_default()
                    );
                }
            }
            other => bail!("unexpected answer {other:?}"),
        },
        Command::Launch { app_id } => launch(&mut client, &app_id).await?,
        Command::Kill { session } => {
            terminate(&mut client, session).await?;
            println!("session {session}: stopping");
        }
        Command::Restart { session } => {
            let app_id = match client.request(&Request::QueryAppState { session }).await? {
                Reply::SessionState { app_id, .. } => app_id,
                Reply::Error { code, message } => bail!("{code:?}: {message}"),
                other => bail!("unexpected answer {other:?}"),
            };
            terminate(&mut client, session).await?;
            let reason = wait_stopped(&mut client, session).await?;
            println!("session {session}: stopped ({reason})");
            launch(&mut client, &app_id).await?;
        }
        Command::Send { session, message, timeout } => {
            match client.request(&Request::IpcForward { session, message }).await? {
                Reply::Ok => {}
                Reply::Error { code, message } => bail!("{code:?}: {message}"),
                other => bail!("unexpected answer {other:?}"),
            }
            let answer = tokio::time::timeout(Duration::from_secs_f64(timeout), async {
                loop {
                    if let Event::IpcMessage { session: from, message, .. } =
                        client.next_event().await?
                        && from == session
                    {
                        return anyhow::Ok(message);
                    }
                }
            })
            .await
            .with_context(|| format!("session {session} did not answer within {timeout} s"))??;
            println!("{answer}");
        }
        Command::Logs { session, follow } => {
            match client.request(&Request::QueryLogs { session, follow }).await? {
                Reply::Logs { lines, .. } => lines.iter().for_each(print_log_line),
                Reply::Error { code, message } => bail!("{code:?}: {message}"),
                other => bail!("unexpected answer {other:?}"),
            }
            if follow {
                loop {
                    match client.next_event().await? {
                        Event::LogLine { session: from, line } if from == session => {
                            print_log_line(&line);
                        }
                        Event::LogsEnd { session: from, reason } if from == session => {
                            println!(
                                "-- session {session} stopped: {}",
                                reason.unwrap_or_default()
                            );
                            break;
                        }
                        _ => {}
                    }
                }
            }
        }
        Command::Top { interval, iterations } => {
            top(&mut client, Duration::from_secs_f64(interval.max(0.1)), iterations).await?;
        }
        Command::Completions { .. } => unreachable!("answered without a connection"),
        Command::AllowDowngrade { app_id } => {
            match client.request(&Request::AllowDowngrade { app_id: app_id.clone() }).await? {
                Reply::Ok => println!("{app_id}: its next launch may be of an older version"),
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
