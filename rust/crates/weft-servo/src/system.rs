//! `weft-servo-shell`: the system UI (launcher, running apps, notifications)
//! as the compositor's `panel`. The shell holds weft-appd's authenticated
//! WebSocket (token and `Origin: weft://system`) and carries the page's
//! messages over it; the compositor's navigation gestures go to weft-appd as
//! `PANEL_GESTURE`, which broadcasts them.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use clap::Parser;
use weft_shell_core::appd::AppdSocket;
use weft_shell_core::bridge::{APPD_PATH, Bridge, user_script};
use weft_shell_core::policy::NetworkPolicy;
use weft_shell_core::scheme::{AppFiles, SYSTEM_SCHEME};
use weft_shell_core::window::Role;

use crate::app::{parse_size, runtime_dir};
use crate::host::{Page, open_window, run};
use crate::sandbox::Sandbox;
use crate::scheme::ShellScheme;
use crate::shader_cache::Owner;

/// The system UI on Servo.
#[derive(Parser)]
#[command(name = "weft-servo-shell", version)]
pub struct Args {
    /// The system UI's pages (`index.html` and what it loads).
    #[arg(long, env = "WEFT_SYSTEM_UI_DIR")]
    pub ui_dir: PathBuf,
    /// weft-appd's runtime directory (`appd.ws-port`, `appd.token`);
    /// default `$XDG_RUNTIME_DIR/weft`.
    #[arg(long)]
    pub appd_dir: Option<PathBuf>,
    /// Run JavaScript without the JIT (interpreter only).
    #[arg(long, env = "WEFT_SHELL_NO_JIT")]
    pub no_jit: bool,
    /// The panel size to ask for first, WIDTHxHEIGHT (the compositor
    /// decides); once the page is drawn, the panel takes the page's height.
    #[arg(long, default_value = "1024x48", value_parser = parse_size)]
    pub size: (i32, i32),
}

/// Runs the system UI shell: the first call of the process's `main`, before
/// any thread starts ([`crate::init`]).
pub fn main(args: Args) -> anyhow::Result<()> {
    let prepared = crate::init(Owner::SystemUi).context("preparing the process")?;
    let files = AppFiles::system_ui(&args.ui_dir)
        .with_context(|| format!("opening the system UI in {}", args.ui_dir.display()))?;
    let entry = files.entry_url().parse().context("the entry URL")?;
    let network = NetworkPolicy::new(files.origin(), Vec::new());
    let appd_dir = match args.appd_dir {
        Some(dir) => dir,
        None => runtime_dir()?.join("weft"),
    };
    let (port, token) = AppdSocket::read_runtime_dir(&appd_dir).context("finding weft-appd")?;
    let window = open_window("system", "WEFT", Role::Panel, args.size)?;
    let sandbox = Sandbox {
        scratch: prepared.scratch.path().to_owned(),
        shader_cache: prepared.shader_cache.clone(),
        read_only: vec![args.ui_dir.clone()],
        tcp_ports: vec![port],
    };
    let report = sandbox.enter()?;
    tracing::info!("sandboxed: {report}");
    let appd = AppdSocket::connect(port, &token).context("connecting to weft-appd")?;
    let bridge: Arc<dyn Bridge> = Arc::new(appd);
    let gestures = Arc::clone(&bridge);
    let page = Page {
        entry,
        scheme: SYSTEM_SCHEME,
        handler: ShellScheme::new(files, Some((APPD_PATH, Arc::clone(&bridge)))),
        bridge,
        fit_height: true,
        user_script: user_script("weftAppd", APPD_PATH),
        network,
        no_jit: args.no_jit,
    };
    run(page, window, &move |gesture| {
        let message = serde_json::json!({ "type": "PANEL_GESTURE", "gesture": gesture });
        if let Err(error) = gestures.send(message.to_string()) {
            tracing::warn!("cannot forward the gesture {gesture:?}: {error}");
        }
    })
}
