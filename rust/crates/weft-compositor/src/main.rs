//! The `weft-compositor` binary.

use std::process::ExitCode;

use clap::Parser;
use weft_compositor::server::{Config, run};
use weft_compositor::state::Authorization;

/// The WEFT OS compositor.
#[derive(Parser)]
#[command(version, about)]
struct Cli {
    /// Output size, WIDTHxHEIGHT.
    #[arg(long, default_value = "1280x800", value_parser = parse_size)]
    size: (i32, i32),
    /// Listening socket name in $XDG_RUNTIME_DIR.
    #[arg(long, default_value = "wayland-weft")]
    socket: String,
    /// The app id the socket's clients speak for; `system` makes them the
    /// system UI (the only clients that may create the panel).
    #[arg(long, default_value = "system")]
    socket_app_id: String,
}

fn parse_size(text: &str) -> Result<(i32, i32), String> {
    let (w, h) = text.split_once('x').ok_or("expected WIDTHxHEIGHT")?;
    let parse = |n: &str| n.parse::<i32>().ok().filter(|n| *n > 0).ok_or("not a positive size");
    Ok((parse(w)?, parse(h)?))
}

fn main() -> ExitCode {
    tracing_subscriber::fmt().with_writer(std::io::stderr).init();
    let cli = Cli::parse();
    let authorization = match cli.socket_app_id.as_str() {
        "system" => Authorization::system_ui(),
        app_id => Authorization::app(app_id),
    };
    let config = Config { size: cli.size.into(), socket: Some((cli.socket, authorization)) };
    // No controller yet: the sender stays here so the loop runs until killed.
    let (_commands, receiver) = smithay::reexports::calloop::channel::channel();
    match run(config, receiver) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("weft-compositor: {error:#}");
            ExitCode::FAILURE
        }
    }
}
