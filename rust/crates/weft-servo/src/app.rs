//! `weft-app-shell <app-id> <session>`: weft-appd starts it after the app's
//! READY, on the session's own Wayland socket, with the package's path in
//! `WEFT_APP_PACKAGE`. It exits when the compositor closes its window (the
//! session ended); if it cannot open its window it exits non-zero, which ends
//! the session.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Context, bail};
use clap::Parser;
use weft_manifest::{AppId, Manifest};
use weft_shell_core::bridge::{Bridge, IPC_PATH, user_script};
use weft_shell_core::ipc::IpcBridge;
use weft_shell_core::policy::NetworkPolicy;
use weft_shell_core::scheme::{AppFiles, SCHEME};
use weft_shell_core::window::Role;

use crate::host::{Page, open_window, run};
use crate::sandbox::Sandbox;
use crate::scheme::ShellScheme;
use crate::shader_cache::Owner;

/// An app's web UI on Servo.
#[derive(Parser)]
#[command(name = "weft-app-shell", version)]
pub struct Args {
    /// The app whose UI to show.
    pub app_id: String,
    /// Its session in weft-appd.
    pub session: u64,
    /// The app's verified package (on a WEFT system, its read-only image mount).
    #[arg(long, env = "WEFT_APP_PACKAGE")]
    pub package: PathBuf,
    /// weft-appd's operator socket, for a shell started by hand; a shell
    /// weft-appd starts uses the session channel it hands down instead
    /// (`WEFT_APPD_CHANNEL=stdin`, see `IpcBridge::connect`).
    #[arg(long, env = "WEFT_APPD_SOCKET")]
    pub appd_socket: Option<PathBuf>,
    /// Run JavaScript without the JIT (interpreter only), as kiosk profiles do.
    #[arg(long, env = "WEFT_SHELL_NO_JIT")]
    pub no_jit: bool,
    /// The window size to ask for, WIDTHxHEIGHT.
    #[arg(long, default_value = "800x600", value_parser = parse_size)]
    pub size: (i32, i32),
}

/// Runs the app shell: the first call of the process's `main`, before any
/// thread starts ([`crate::init`]).
pub fn main(args: Args) -> anyhow::Result<()> {
    let app_id = AppId::new(&args.app_id).with_context(|| format!("{:?}", args.app_id))?;
    let prepared = crate::init(Owner::App(&app_id)).context("preparing the process")?;
    let manifest = Manifest::load(&args.package.join("wapp.toml"))
        .with_context(|| format!("reading the manifest in {}", args.package.display()))?;
    if manifest.id != app_id {
        bail!("{} holds {}, not {app_id}", args.package.display(), manifest.id);
    }
    let files = AppFiles::open(&args.package, app_id.clone(), manifest.ui_entry.clone())
        .with_context(|| format!("opening the UI of {}", args.package.display()))?;
    let entry = files.entry_url().parse().context("the entry URL")?;
    let network = NetworkPolicy::new(files.origin(), manifest.fetch_origins().cloned().collect());
    let appd_socket = match args.appd_socket {
        Some(socket) => socket,
        None => runtime_dir()?.join("weft/appd.sock"),
    };
    // A shell that cannot show its window exits non-zero: weft-appd then ends
    // the session with that reason.
    let window = open_window(app_id.as_str(), &manifest.name, Role::Application, args.size)?;
    let ports: Vec<u16> = network.fetch_origins().iter().map(|origin| origin.port()).collect();
    let sandbox = Sandbox {
        scratch: prepared.scratch.path().to_owned(),
        shader_cache: prepared.shader_cache.clone(),
        read_only: vec![args.package.clone()],
        tcp_ports: ports,
    };
    let report = sandbox.enter()?;
    tracing::info!(app = %app_id, session = args.session, "sandboxed: {report}");
    let bridge: Arc<dyn Bridge> = Arc::new(
        IpcBridge::connect(&appd_socket, args.session)
            .with_context(|| format!("the session's IPC relay at {}", appd_socket.display()))?,
    );
    let page = Page {
        entry,
        scheme: SCHEME,
        handler: ShellScheme::new(files, Some((IPC_PATH, Arc::clone(&bridge)))),
        bridge,
        fit_height: false,
        user_script: user_script("weftIpc", IPC_PATH),
        network,
        no_jit: args.no_jit,
    };
    run(page, window, &|_| {})
}

/// `$XDG_RUNTIME_DIR`, which weft-appd's socket lives under.
pub fn runtime_dir() -> anyhow::Result<PathBuf> {
    std::env::var_os("XDG_RUNTIME_DIR")
        .map(PathBuf::from)
        .context("XDG_RUNTIME_DIR is not set (it holds weft-appd's socket)")
}

/// `WIDTHxHEIGHT`, both 1 to 8192.
pub fn parse_size(text: &str) -> Result<(i32, i32), String> {
    let parsed = text.split_once('x').and_then(|(w, h)| Some((w.parse().ok()?, h.parse().ok()?)));
    match parsed {
        Some((width @ 1..=8192, height @ 1..=8192)) => Ok((width, height)),
        _ => Err(format!("{text:?} is not WIDTHxHEIGHT (1 to 8192 each)")),
    }
}
