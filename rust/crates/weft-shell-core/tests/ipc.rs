//! The weftIpc bridge with a real weft-appd and the real hello app: a page's
//! message reaches the app and its answer comes back; oversized messages and
//! floods are refused before they leave; the session's end is reported.

use std::path::PathBuf;
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use weft_protocol::appd::{Reply, Request};
use weft_protocol::appd_client::Client;
use weft_protocol::session::{IPC_BURST, MAX_IPC_MESSAGE_BYTES};
use weft_shell_core::bridge::{Bridge, BridgeError, Delivery};
use weft_shell_core::ipc::IpcBridge;

/// weft-appd (built beside this test) with the hello app signed and installed.
struct Appd {
    dir: tempfile::TempDir,
    daemon: Child,
}

impl Appd {
    fn start() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let (store, trusted) = (dir.path().join("store"), dir.path().join("trusted"));
        for path in [&store, &trusted] {
            std::fs::create_dir_all(path).unwrap();
        }
        weft_pack::keys::generate_key(&dir.path().join("k"), &trusted.join("k.pub")).unwrap();
        let key = weft_pack::keys::load_signing_key(&dir.path().join("k")).unwrap();
        let package = dir.path().join("hello");
        weft_testkit::copy_tree(&weft_testkit::built_package("hello"), &package);
        weft_pack::sign_package(&package, &key).unwrap();
        let keys = weft_pack::keys::TrustedKeys::load(&trusted).unwrap();
        weft_pack::store::install(&package, &store, &keys, Default::default()).unwrap();
        let bin = |name: &str| -> PathBuf {
            std::env::current_exe().unwrap().parent().unwrap().parent().unwrap().join(name)
        };
        let daemon = Command::new(bin("weft-appd"))
            .env("XDG_RUNTIME_DIR", dir.path().join("run"))
            .env("HOME", dir.path())
            .env("WEFT_APP_STORE", &store)
            .env("WEFT_TRUSTED_KEYS", &trusted)
            .env("WEFT_AOT_DIR", dir.path().join("aot"))
            .env("WEFT_RUNTIME_BIN", bin("weft-runtime"))
            .env("WEFT_APPD_WS_PORT", "0")
            .env("WEFT_DISABLE_CGROUP", "1")
            .spawn()
            .expect("weft-appd beside the test (cargo build --workspace)");
        let appd = Self { dir, daemon };
        let deadline = Instant::now() + Duration::from_secs(30);
        while !appd.socket().exists() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
        appd
    }

    fn socket(&self) -> PathBuf {
        self.dir.path().join("run/weft/appd.sock")
    }

    /// Launches hello and waits for READY; returns its session.
    fn launch_hello(&self) -> u64 {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        runtime.block_on(async {
            let mut client = Client::connect(&self.socket()).await.unwrap();
            let request = Request::LaunchApp { app_id: "org.weft.hello".into() };
            let Reply::LaunchAck { session, .. } = client.request(&request).await.unwrap() else {
                panic!("no launch")
            };
            loop {
                if let Reply::AppReady { session: ready, .. } = client.next().await.unwrap()
                    && ready == session
                {
                    return session;
                }
            }
        })
    }
}

impl Drop for Appd {
    fn drop(&mut self) {
        let _ = self.daemon.kill();
        let _ = self.daemon.wait();
    }
}

#[test]
fn built_apps_a_page_message_reaches_the_app_and_its_answer_comes_back() {
    let appd = Appd::start();
    let session = appd.launch_hello();
    let bridge = IpcBridge::connect(&appd.socket(), session).unwrap();

    let oversized = "x".repeat(MAX_IPC_MESSAGE_BYTES + 1);
    assert!(matches!(bridge.send(oversized), Err(BridgeError::TooLarge { .. })));

    bridge.send("WEFT".into()).unwrap();
    let answer = bridge.recv(Duration::from_secs(10));
    assert_eq!(answer, Some(Delivery::Message("Hello, WEFT!".into())));
    // hello answers once and finishes; the page hears that the session ended.
    let end = bridge.recv(Duration::from_secs(10));
    assert_eq!(end, Some(Delivery::Stopped("finished".into())));
}

#[test]
fn built_apps_a_flood_is_refused_before_it_leaves() {
    let appd = Appd::start();
    let session = appd.launch_hello();
    let bridge = IpcBridge::connect(&appd.socket(), session).unwrap();
    let refused = (0..=IPC_BURST * 2)
        .map(|n| bridge.send(format!("message {n}")))
        .filter(|sent| matches!(sent, Err(BridgeError::RateLimited { .. })))
        .count();
    assert!(refused > 0, "a burst of {} went through unlimited", IPC_BURST * 2 + 1);
}

#[test]
fn a_missing_supervisor_is_named() {
    let error = IpcBridge::connect(std::path::Path::new("/nonexistent/appd.sock"), 1)
        .err()
        .expect("no weft-appd there");
    assert!(error.to_string().contains("/nonexistent/appd.sock"), "{error}");
}
