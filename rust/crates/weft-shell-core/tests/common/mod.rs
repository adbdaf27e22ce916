//! What the shells' tests share: a real weft-appd with signed example apps,
//! a real browser (Chromium, headless, over the DevTools protocol) and an
//! HTTP server that serves a page the way the shells' scheme handler does.
#![allow(dead_code, reason = "each test file uses a different part")]

pub mod chromium;
pub mod pages;

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use weft_protocol::appd::{Event, Reply, Request, SessionState};
use weft_protocol::appd_client::Client;

/// A binary built beside this test (`target/debug/<name>`).
pub fn sibling_bin(name: &str) -> PathBuf {
    std::env::current_exe().unwrap().parent().unwrap().parent().unwrap().join(name)
}

/// weft-appd with a store of signed, installed apps.
pub struct Appd {
    /// Holds the store, keys, runtime dir and home.
    pub dir: tempfile::TempDir,
    daemon: Option<Child>,
}

impl Appd {
    /// A store and a signing key, no daemon yet.
    pub fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        for sub in ["store", "trusted", "run"] {
            std::fs::create_dir_all(dir.path().join(sub)).unwrap();
        }
        let trusted = dir.path().join("trusted/k.pub");
        weft_pack::keys::generate_key(&dir.path().join("k"), &trusted).unwrap();
        Self { dir, daemon: None }
    }

    /// Signs and installs the example app `app` (built by apps/build.sh),
    /// renamed to `id` and `name` when given.
    pub fn install(self, app: &str, rename: Option<(&str, &str)>) -> Self {
        self.install_with_ui(app, rename, None, None)
    }

    /// Like [`Appd::install`], with the files of `ui` as the package's `ui/`
    /// and `capabilities` (a TOML array) as its capabilities.
    pub fn install_with_ui(
        self,
        app: &str,
        rename: Option<(&str, &str)>,
        ui: Option<&Path>,
        capabilities: Option<&str>,
    ) -> Self {
        let package =
            self.dir.path().join(format!("packages/{app}-{}", rename.map_or("", |r| r.0)));
        weft_testkit::copy_tree(&weft_testkit::built_package(app), &package);
        if let Some(ui) = ui {
            std::fs::remove_dir_all(package.join("ui")).unwrap();
            weft_testkit::copy_tree(ui, &package.join("ui"));
        }
        if let Some((id, name)) = rename {
            let manifest = package.join("wapp.toml");
            let text = std::fs::read_to_string(&manifest).unwrap();
            let mut lines: Vec<String> = text.lines().map(str::to_owned).collect();
            for line in &mut lines {
                if line.starts_with("id = ") {
                    *line = format!("id = {id:?}");
                } else if line.starts_with("name = ") {
                    *line = format!("name = {}", toml_string(name));
                } else if let Some(capabilities) = capabilities
                    && line.starts_with("capabilities = ")
                {
                    *line = format!("capabilities = {capabilities}");
                }
            }
            std::fs::write(&manifest, lines.join("\n") + "\n").unwrap();
        }
        let key = weft_pack::keys::load_signing_key(&self.dir.path().join("k")).unwrap();
        weft_pack::sign_package(&package, &key).unwrap();
        let keys = weft_pack::keys::TrustedKeys::load(&self.dir.path().join("trusted")).unwrap();
        weft_pack::store::install(
            &package,
            &self.dir.path().join("store"),
            &keys,
            Default::default(),
        )
        .unwrap();
        self
    }

    /// Starts the daemon with `env` added to its environment.
    pub fn start(mut self, env: &[(&str, OsString)]) -> Self {
        let root = self.dir.path();
        let mut command = Command::new(sibling_bin("weft-appd"));
        command
            .env("XDG_RUNTIME_DIR", root.join("run"))
            .env("HOME", root)
            .env("WEFT_APP_STORE", root.join("store"))
            .env("WEFT_TRUSTED_KEYS", root.join("trusted"))
            .env("WEFT_AOT_DIR", root.join("aot"))
            .env("WEFT_RUNTIME_BIN", sibling_bin("weft-runtime"))
            .env("WEFT_APPD_WS_PORT", "0")
            .env("WEFT_DISABLE_CGROUP", "1");
        for (key, value) in env {
            command.env(key, value);
        }
        self.daemon =
            Some(command.spawn().expect("weft-appd beside the test (cargo build --workspace)"));
        let deadline = Instant::now() + Duration::from_secs(30);
        // The control socket comes last, after the WebSocket's port and token.
        while !self.socket().exists() {
            assert!(Instant::now() < deadline, "weft-appd did not start");
            std::thread::sleep(Duration::from_millis(10));
        }
        self
    }

    /// weft-appd's runtime directory (socket, WebSocket port and token).
    pub fn runtime_dir(&self) -> PathBuf {
        self.dir.path().join("run/weft")
    }

    /// weft-appd's control socket.
    pub fn socket(&self) -> PathBuf {
        self.runtime_dir().join("appd.sock")
    }

    /// Sends `request` on a new connection and returns the answer.
    pub fn request(&self, request: Request) -> Reply {
        block_on(async {
            let mut client = Client::connect(&self.socket()).await.unwrap();
            client.request(&request).await.unwrap()
        })
    }

    /// Launches `app_id` and waits for READY; returns its session.
    pub fn launch(&self, app_id: &str) -> u64 {
        block_on(async {
            let mut client = Client::connect(&self.socket()).await.unwrap();
            let request = Request::LaunchApp { app_id: app_id.into() };
            let Reply::LaunchAck { session, .. } = client.request(&request).await.unwrap() else {
                panic!("{app_id} was not launched")
            };
            loop {
                match client.next_event().await.unwrap() {
                    Event::AppReady { session: ready, .. } if ready == session => return session,
                    Event::AppState {
                        session: s, state: SessionState::Stopped, reason, ..
                    } if s == session => {
                        panic!("{app_id} stopped before READY: {reason:?}")
                    }
                    _ => {}
                }
            }
        })
    }

    /// Every event weft-appd broadcasts from now on.
    pub fn events(&self) -> std::sync::mpsc::Receiver<Event> {
        let socket = self.socket();
        let (sender, events) = std::sync::mpsc::channel();
        let (connected, ready) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            block_on(async {
                let mut client = Client::connect(&socket).await.unwrap();
                connected.send(()).unwrap();
                while let Ok(event) = client.next_event().await {
                    if sender.send(event).is_err() {
                        return;
                    }
                }
            });
        });
        ready.recv().unwrap();
        events
    }

    /// The state and stop reason of `session`.
    pub fn state(&self, session: u64) -> (SessionState, Option<String>) {
        match self.request(Request::QueryAppState { session }) {
            Reply::SessionState { state, reason, .. } => (state, reason),
            other => panic!("no state for session {session}: {other:?}"),
        }
    }
}

impl Drop for Appd {
    fn drop(&mut self) {
        if let Some(mut daemon) = self.daemon.take() {
            let _ = daemon.kill();
            let _ = daemon.wait();
        }
    }
}

/// A TOML basic string (quotes and backslashes escaped).
fn toml_string(text: &str) -> String {
    format!("\"{}\"", text.replace('\\', "\\\\").replace('"', "\\\""))
}

/// Runs `future` on a fresh current-thread runtime.
pub fn block_on<T>(future: impl Future<Output = T>) -> T {
    tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(future)
}

/// Waits up to `timeout` for `check` to give a value.
pub fn eventually<T>(timeout: Duration, mut check: impl FnMut() -> Option<T>) -> Option<T> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(value) = check() {
            return Some(value);
        }
        if Instant::now() > deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The directory of the system UI's pages.
pub fn system_ui_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../weft-servo/system-ui")
}

/// The compositor, headless in this process, with its control socket where
/// weft-appd looks for it (`<run>/weft/compositor.sock`) and the system UI's
/// Wayland socket at `<run>/wayland-system`.
pub fn compositor(appd: &Appd, size: (i32, i32)) -> weft_compositor::server::Handle {
    compositor_with_keymap(appd, size, weft_compositor::state::Keymap::default())
}

/// [`compositor`] with the keyboard layout `keymap`.
pub fn compositor_with_keymap(
    appd: &Appd,
    size: (i32, i32),
    keymap: weft_compositor::state::Keymap,
) -> weft_compositor::server::Handle {
    use weft_compositor::server::{Command, Config, Handle};
    use weft_compositor::state::Authorization;
    let run = appd.dir.path().join("run");
    let handle = Handle::spawn(Config {
        backend: Default::default(),
        size: size.into(),
        socket: None,
        runtime_dir: run.clone(),
        keymap,
        drm_device: None,
    });
    std::fs::create_dir_all(run.join("weft")).unwrap();
    weft_compositor::control::serve(&run.join("weft/compositor.sock"), handle.commands()).unwrap();
    let system = std::os::unix::net::UnixListener::bind(run.join("wayland-system")).unwrap();
    let commands = handle.commands();
    std::thread::spawn(move || {
        for stream in system.incoming() {
            let Ok(stream) = stream else { return };
            if commands.send(Command::AddClient(stream, Authorization::system_ui())).is_err() {
                return;
            }
        }
    });
    handle
}
