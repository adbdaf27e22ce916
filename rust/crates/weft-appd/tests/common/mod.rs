//! The daemon under test and helpers shared by the test files.
#![allow(dead_code, reason = "each test file uses a different part")]

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use weft_protocol::appd::{Event, Reply, Request, SessionState};
use weft_protocol::appd_client::Client;

/// A daemon with a store holding signed, installed apps.
pub struct Fixture {
    /// Holds the store, keys, runtime dir and home.
    pub dir: tempfile::TempDir,
    /// The daemon.
    pub daemon: Child,
    /// The cgroup the daemon was started in, removed on drop.
    pub cgroup: Option<PathBuf>,
    /// The daemon's command, to start it again.
    command: Command,
}

/// How a test's daemon is set up.
pub struct Options<'a> {
    /// Apps signed and installed in the store (directory names under `apps/`).
    pub apps: &'a [&'a str],
    /// `WEFT_READY_TIMEOUT_MS`.
    pub ready_timeout_ms: u64,
    /// Further environment for the daemon.
    pub env: &'a [(&'a str, &'a str)],
    /// Start the daemon alone in a new cgroup, as `Delegate=yes` would.
    pub own_cgroup: bool,
}

impl Default for Options<'_> {
    fn default() -> Self {
        Self { apps: &[], ready_timeout_ms: 30_000, env: &[], own_cgroup: false }
    }
}

/// `weft-runtime` from the workspace's build.
pub fn runtime_bin() -> PathBuf {
    workspace_bin("weft-runtime")
}

/// A binary of another crate of the workspace, from the same build as the test.
pub fn workspace_bin(name: &str) -> PathBuf {
    let bin = std::env::current_exe().unwrap().parent().unwrap().parent().unwrap().join(name);
    assert!(
        bin.is_file(),
        "{} is missing: build the workspace (`cargo build --workspace`)",
        bin.display()
    );
    bin
}

/// A daemon with hello installed, alone in a cgroup of its own, whose app
/// shell starts a process of its own: a `sleep` whose argument (`marker`,
/// returned) no other process has. The daemon's death signal does not reach
/// that process; only a successor's cleanup does. Keep the directory (the
/// shell lives there) as long as the fixture.
pub fn with_forking_app_shell(seconds: u32) -> (Fixture, String, tempfile::TempDir) {
    let scratch = tempfile::tempdir().unwrap();
    let shell = scratch.path().join("app-shell");
    let marker = format!("{seconds}.{}", std::process::id());
    fs::write(&shell, format!("#!/bin/sh\nsleep {marker} &\nexec sleep {seconds}\n")).unwrap();
    fs::set_permissions(&shell, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let fixture = Fixture::with(Options {
        apps: &["hello"],
        env: &[("WEFT_APP_SHELL_BIN", shell.to_str().unwrap())],
        own_cgroup: true,
        ..Options::default()
    });
    (fixture, marker, scratch)
}

/// Where the fixture's directories go: in memory when the machine has
/// `/dev/shm`, as a real session's runtime directory is (`/run/user/<uid>` is
/// a tmpfs), else the temporary directory.
fn memory_backed_dir() -> PathBuf {
    let shm = Path::new("/dev/shm");
    if shm.is_dir() { shm.to_owned() } else { std::env::temp_dir() }
}

impl Fixture {
    /// A daemon with `apps` installed and a READY timeout.
    pub fn start(apps: &[&str], ready_timeout_ms: u64) -> Self {
        Self::with(Options { apps, ready_timeout_ms, ..Options::default() })
    }

    /// A daemon set up as `options` say.
    pub fn with(options: Options<'_>) -> Self {
        let Options { apps, ready_timeout_ms, env, own_cgroup } = options;
        let dir = tempfile::tempdir_in(memory_backed_dir()).unwrap();
        let (store, trusted, aot) =
            (dir.path().join("store"), dir.path().join("trusted"), dir.path().join("aot"));
        for path in [&store, &trusted] {
            fs::create_dir_all(path).unwrap();
        }
        let key_path = dir.path().join("dev.key");
        weft_pack::keys::generate_key(&key_path, &trusted.join("dev.pub")).unwrap();
        let key = weft_pack::keys::load_signing_key(&key_path).unwrap();
        let keys = weft_pack::keys::TrustedKeys::load(&trusted).unwrap();
        for app in apps {
            let package = dir.path().join("packages").join(app);
            weft_testkit::copy_tree(&weft_testkit::built_package(app), &package);
            weft_pack::sign_package(&package, &key).unwrap();
            weft_pack::store::install(&package, &store, &keys, Default::default()).unwrap();
        }
        let cgroup = own_cgroup.then(new_cgroup);
        let mut command = match &cgroup {
            // The shell joins the cgroup, then becomes the daemon (same pid).
            Some(cgroup) => {
                let mut command = Command::new("/bin/sh");
                command.arg("-c").arg("echo $$ > \"$1/cgroup.procs\" && exec \"$2\"").args([
                    "sh".as_ref(),
                    cgroup.as_os_str(),
                    env!("CARGO_BIN_EXE_weft-appd").as_ref(),
                ]);
                command
            }
            None => Command::new(env!("CARGO_BIN_EXE_weft-appd")),
        };
        command
            .env("XDG_RUNTIME_DIR", dir.path().join("run"))
            .env("HOME", dir.path())
            .env_remove("XDG_DATA_HOME")
            .env_remove("WEFT_DISABLE_CGROUP")
            .env("WEFT_APP_STORE", &store)
            .env("WEFT_TRUSTED_KEYS", &trusted)
            .env("WEFT_AOT_DIR", &aot)
            .env("WEFT_RUNTIME_BIN", runtime_bin())
            .env("WEFT_FILE_PORTAL_BIN", runtime_bin().with_file_name("weft-file-portal"))
            .env("WEFT_READY_TIMEOUT_MS", ready_timeout_ms.to_string())
            .env("WEFT_STOP_GRACE_MS", "500")
            .env("WEFT_APPD_WS_PORT", "0")
            .env("WEFT_APPD_WS_ORIGINS", "weft://system")
            .envs(env.iter().copied());
        let daemon = command.spawn().unwrap();
        let fixture = Self { dir, daemon, cgroup, command };
        fixture.wait_listening();
        fixture
    }

    /// Starts the daemon again (after it was killed), on the same directories.
    pub fn restart(&mut self) {
        let _ = self.daemon.kill();
        let _ = self.daemon.wait();
        let _ = fs::remove_file(self.dir.path().join("run/weft/appd.sock"));
        self.daemon = self.command.spawn().unwrap();
        self.wait_listening();
    }

    /// Waits for the control socket, which weft-appd makes last.
    fn wait_listening(&self) {
        let deadline = Instant::now() + Duration::from_secs(30);
        while !self.dir.path().join("run/weft/appd.sock").exists() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// The control socket.
    pub fn socket(&self) -> PathBuf {
        self.dir.path().join("run/weft/appd.sock")
    }

    /// A connected client.
    pub async fn client(&self) -> Client {
        Client::connect(&self.socket()).await.unwrap()
    }
}

impl Drop for Fixture {
    fn drop(&mut self) {
        let _ = self.daemon.kill();
        let _ = self.daemon.wait();
        if let Some(cgroup) = &self.cgroup {
            remove_cgroup_tree(cgroup);
        }
    }
}

/// The cgroup v2 directory of this process.
pub fn own_cgroup_dir() -> PathBuf {
    let mountinfo = fs::read_to_string("/proc/self/mountinfo").unwrap();
    let mount = mountinfo
        .lines()
        .find_map(|line| {
            let (fields, fs_type) = line.split_once(" - ")?;
            fs_type.starts_with("cgroup2 ").then(|| fields.split(' ').nth(4))?
        })
        .expect("these tests need a cgroup2 file system");
    let cgroup = fs::read_to_string("/proc/self/cgroup").unwrap();
    let path = cgroup.lines().find_map(|line| line.strip_prefix("0::")).unwrap();
    Path::new(mount).join(path.trim_start_matches('/'))
}

/// A new, empty cgroup below this process's own.
fn new_cgroup() -> PathBuf {
    static COUNT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let n = COUNT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let path = own_cgroup_dir().join(format!("weft-test-{}-{n}", std::process::id()));
    fs::create_dir(&path).unwrap_or_else(|error| {
        panic!("cannot create the cgroup {} (these tests run as root): {error}", path.display())
    });
    path
}

/// Removes a cgroup and its children once their processes are gone.
fn remove_cgroup_tree(cgroup: &Path) {
    let deadline = Instant::now() + Duration::from_secs(10);
    for entry in fs::read_dir(cgroup).into_iter().flatten().flatten() {
        if entry.file_type().is_ok_and(|kind| kind.is_dir()) {
            remove_cgroup_tree(&entry.path());
        }
    }
    while fs::remove_dir(cgroup).is_err() && cgroup.exists() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Waits for the event `wanted` picks, failing after 60 s.
pub async fn expect_event<T>(
    client: &mut Client,
    mut wanted: impl FnMut(&Event) -> Option<T>,
) -> T {
    let deadline = Duration::from_secs(60);
    tokio::time::timeout(deadline, async {
        loop {
            let event = client.next_event().await.unwrap();
            if let Some(found) = wanted(&event) {
                return found;
            }
        }
    })
    .await
    .expect("the event never came")
}

pub async fn wait_ready(client: &mut Client, session: u64) {
    expect_event(client, |m| {
        matches!(m, Event::AppReady { session: s, .. } if *s == session).then_some(())
    })
    .await;
}

/// Sends `message` to the session's app as its UI and returns the app's answer.
pub async fn say(client: &mut Client, session: u64, message: &str) -> String {
    let forwarded =
        client.request(&Request::IpcForward { session, message: message.into() }).await.unwrap();
    assert_eq!(forwarded, Reply::Ok);
    expect_event(client, |m| match m {
        Event::IpcMessage { session: s, message, .. } if *s == session => Some(message.clone()),
        _ => None,
    })
    .await
}

pub async fn launch(client: &mut Client, app: &str) -> u64 {
    match client.request(&Request::LaunchApp { app_id: app.into() }).await.unwrap() {
        Reply::LaunchAck { session, .. } => session,
        other => panic!("launch of {app} failed: {other:?}"),
    }
}

pub async fn stopped_reason(client: &mut Client, session: u64) -> String {
    expect_event(client, |message| match message {
        Event::AppState { session: s, state: SessionState::Stopped, reason, .. }
            if *s == session =>
        {
            reason.clone()
        }
        _ => None,
    })
    .await
}

pub fn pid_of(sessions: &Reply, session: u64) -> u32 {
    match sessions {
        Reply::RunningApps { sessions } => {
            sessions.iter().find(|info| info.session == session).and_then(|info| info.pid).unwrap()
        }
        other => panic!("{other:?}"),
    }
}

/// Whether the process `pid` is gone within 10 s.
pub fn gone(pid: u32) -> bool {
    gone_within(pid, Duration::from_secs(10))
}

/// Whether the process `pid` is gone within `limit`.
pub fn gone_within(pid: u32, limit: Duration) -> bool {
    let deadline = Instant::now() + limit;
    loop {
        if !Path::new(&format!("/proc/{pid}")).exists() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Processes whose command line mentions `needle`.
pub fn processes_mentioning(needle: &str) -> Vec<u32> {
    fs::read_dir("/proc")
        .unwrap()
        .filter_map(|entry| entry.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            fs::read(format!("/proc/{pid}/cmdline"))
                .is_ok_and(|cmdline| String::from_utf8_lossy(&cmdline).contains(needle))
        })
        .collect()
}

/// The file portals serving `app` for this fixture (their command lines name
/// the app's data directory).
pub fn portals_of(fixture: &Fixture, app: &str) -> Vec<u32> {
    let data = fixture.dir.path().join(".local/share/weft/app-data").join(app);
    processes_mentioning(&format!("app-data={}:", data.display()))
}

/// The session portals of `app` once one runs: a portal over writable roots
/// starts right after READY, so it may still be starting when READY arrives.
pub fn started_portals_of(fixture: &Fixture, app: &str) -> Vec<u32> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let portals = portals_of(fixture, app);
        if !portals.is_empty() || Instant::now() > deadline {
            return portals;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Sends SIGKILL to `pid`.
pub fn kill_9(pid: u32) {
    rustix::process::kill_process(
        rustix::process::Pid::from_raw(pid as i32).expect("a pid"),
        rustix::process::Signal::KILL,
    )
    .expect("kill -9");
}

/// Processes whose parent is `pid`.
pub fn children_of(pid: u32) -> Vec<u32> {
    fs::read_dir("/proc")
        .unwrap()
        .filter_map(|entry| entry.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|child| {
            let stat = fs::read_to_string(format!("/proc/{child}/stat")).unwrap_or_default();
            stat.rsplit_once(')')
                .and_then(|(_, fields)| fields.split_whitespace().nth(1)?.parse::<u32>().ok())
                == Some(pid)
        })
        .collect()
}

/// Whether process `pid` is a spare runtime (`weft-runtime --spare`; one
/// handed an app keeps that command line).
pub fn is_spare(pid: u32) -> bool {
    fs::read(format!("/proc/{pid}/cmdline"))
        .is_ok_and(|cmdline| cmdline.split(|&byte| byte == 0).any(|arg| arg == b"--spare"))
}
