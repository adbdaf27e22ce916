//! The `weft-compositor` binary.

use std::process::ExitCode;

use std::path::PathBuf;

use anyhow::Context;
use clap::Parser;
use weft_compositor::server::{BackendKind, Config, run};
use weft_compositor::state::{Authorization, Keymap};
use weft_protocol::compositor::{ControlReply, ControlRequest};

/// The WEFT OS compositor.
#[derive(Parser)]
#[command(version, about)]
struct Cli {
    #[command(subcommand)]
    command: Option<Tool>,
    /// Where to draw: `headless` (in memory), `winit` (a window on the
    /// current Wayland or X11 desktop), `drm` (a display through DRM/KMS) or
    /// `auto` (winit inside a desktop, else drm when a card exists, else headless).
    #[arg(long, default_value = "headless", value_parser = parse_backend)]
    backend: BackendKind,
    /// The DRM card for `--backend drm` (default: the seat's primary card).
    #[arg(long)]
    drm_device: Option<PathBuf>,
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
    /// weft-appd's control socket; default $XDG_RUNTIME_DIR/weft/compositor.sock.
    #[arg(long)]
    control_socket: Option<PathBuf>,
    /// Keyboard layouts, comma-separated (default: xkbcommon's, or XKB_DEFAULT_LAYOUT).
    #[arg(long, default_value = "")]
    xkb_layout: String,
    /// Keyboard layout variants, one per layout.
    #[arg(long, default_value = "")]
    xkb_variant: String,
    /// Keyboard options, such as grp:alt_shift_toggle.
    #[arg(long)]
    xkb_options: Option<String>,
}

/// Talking to a running compositor instead of being one.
#[derive(clap::Subcommand)]
enum Tool {
    /// Writes the running compositor's last frame as PNG.
    Screenshot {
        /// Where to write it.
        path: PathBuf,
    },
}

fn parse_backend(text: &str) -> Result<BackendKind, String> {
    match text {
        "headless" => Ok(BackendKind::Headless),
        "winit" => Ok(BackendKind::Winit),
        "drm" => Ok(BackendKind::Drm),
        "auto" => Ok(detect_backend()),
        other => Err(format!("{other:?} is not a backend: use headless, winit, drm or auto")),
    }
}

/// A desktop session means a window; a DRM card means the display; else memory.
fn detect_backend() -> BackendKind {
    let in_desktop =
        ["WAYLAND_DISPLAY", "DISPLAY"].iter().any(|name| std::env::var_os(name).is_some());
    let has_card = std::fs::read_dir("/dev/dri").is_ok_and(|entries| {
        entries.flatten().any(|entry| entry.file_name().to_string_lossy().starts_with("card"))
    });
    match (in_desktop, has_card) {
        (true, _) => BackendKind::Winit,
        (false, true) => BackendKind::Drm,
        (false, false) => BackendKind::Headless,
    }
}

fn parse_size(text: &str) -> Result<(i32, i32), String> {
    let (w, h) = text.split_once('x').ok_or("expected WIDTHxHEIGHT")?;
    let parse = |n: &str| n.parse::<i32>().ok().filter(|n| *n > 0).ok_or("not a positive size");
    Ok((parse(w)?, parse(h)?))
}

fn main() -> ExitCode {
    tracing_subscriber::fmt().with_writer(std::io::stderr).init();
    let cli = Cli::parse();
    if let Some(Tool::Screenshot { path }) = &cli.command {
        return screenshot(cli.control_socket.clone(), path);
    }
    let authorization = match cli.socket_app_id.as_str() {
        "system" => Authorization::system_ui(),
        app_id => Authorization::app(app_id),
    };
    let result = (|| {
        let runtime_dir = PathBuf::from(
            std::env::var_os("XDG_RUNTIME_DIR").context("XDG_RUNTIME_DIR is not set")?,
        );
        let control_socket =
            cli.control_socket.unwrap_or_else(|| runtime_dir.join("weft/compositor.sock"));
        if let Some(parent) = control_socket.parent() {
            std::fs::create_dir_all(parent)?;
        }
        let config = Config {
            backend: cli.backend,
            size: cli.size.into(),
            socket: Some((cli.socket, authorization)),
            runtime_dir,
            keymap: Keymap {
                layout: cli.xkb_layout,
                variant: cli.xkb_variant,
                options: cli.xkb_options,
            },
            drm_device: cli.drm_device,
        };
        let (commands, receiver) = smithay::reexports::calloop::channel::channel();
        weft_compositor::control::serve(&control_socket, commands)
            .with_context(|| format!("binding {}", control_socket.display()))?;
        run(config, receiver)
    })();
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("weft-compositor: {error:#}");
            ExitCode::FAILURE
        }
    }
}

/// Asks the compositor on `control_socket` for a screenshot at `path`.
fn screenshot(control_socket: Option<PathBuf>, path: &std::path::Path) -> ExitCode {
    let result = (|| {
        let socket = match control_socket {
            Some(socket) => socket,
            None => PathBuf::from(
                std::env::var_os("XDG_RUNTIME_DIR").context("XDG_RUNTIME_DIR is not set")?,
            )
            .join("weft/compositor.sock"),
        };
        let absolute = std::path::absolute(path)?;
        let request = ControlRequest::Screenshot { path: absolute.display().to_string() };
        match weft_protocol::compositor::request(&socket, &request)? {
            ControlReply::Ok => Ok(absolute),
            other => anyhow::bail!("the compositor answered {other:?}"),
        }
    })();
    match result {
        Ok(path) => {
            println!("{}", path.display());
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("weft-compositor: {error:#}");
            ExitCode::FAILURE
        }
    }
}
