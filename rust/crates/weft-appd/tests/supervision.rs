//! Supervision beyond one run: restarts, the app shell, session logs, cgroups,
//! rate limits and the operator CLI, with the real daemon and real apps.

mod common;

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use common::*;
use weft_protocol::appd::{
    ErrorCode, Event, FromAppd, LogLine, LogStream, Reply, Request, SessionState, read_frame,
    write_frame,
};
use weft_protocol::compositor::{
    CONTROL_PROTOCOL_VERSION, ControlEvent, ControlReply, ControlRequest, FromCompositor,
};
use weft_protocol::frame::{read_frame_sync, write_frame_sync};

/// Runs `weftctl` against the fixture's daemon.
fn weftctl(fixture: &Fixture, args: &[&str]) -> Output {
    Command::new(workspace_bin("weftctl"))
        .arg("--socket")
        .arg(fixture.socket())
        .args(args)
        .output()
        .unwrap()
}

fn stdout_of(output: &Output) -> String {
    assert!(output.status.success(), "{output:?}");
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// The sessions, as `QUERY_RUNNING` answers.
async fn sessions(
    client: &mut weft_protocol::appd_client::Client,
) -> Vec<weft_protocol::appd::SessionInfo> {
    match client.request(&Request::QueryRunning).await.unwrap() {
        Reply::RunningApps { sessions } => sessions,
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn built_apps_a_failing_app_is_restarted_with_backoff_up_to_the_cap() {
    let fixture = Fixture::with(Options {
        apps: &["test-trap-at-start", "hello"],
        env: &[
            ("WEFT_RESTART", "on-failure"),
            ("WEFT_RESTART_MAX", "2"),
            ("WEFT_RESTART_BACKOFF_MS", "100"),
        ],
        ..Options::default()
    });
    let mut client = fixture.client().await;
    let started = Instant::now();
    let session = launch(&mut client, "org.weft.test.trap-at-start").await;
    let mut reasons = Vec::new();
    let stopped = expect_event(&mut client, |message| match message {
        Event::AppState {
            session: s, state: SessionState::Starting, reason: Some(reason), ..
        } if *s == session => {
            reasons.push(reason.clone());
            None
        }
        Event::AppState { session: s, state: SessionState::Stopped, reason, .. }
            if *s == session =>
        {
            reason.clone()
        }
        _ => None,
    })
    .await;
    assert_eq!(
        reasons,
        [
            "restart 1 of 2 after: exited 4 (app trapped)",
            "restart 2 of 2 after: exited 4 (app trapped)"
        ]
    );
    assert_eq!(stopped, "exited 4 (app trapped)");
    // The backoff doubles: 100 ms, then 200 ms.
    assert!(started.elapsed() >= Duration::from_millis(300), "{:?}", started.elapsed());
    let info = sessions(&mut client).await.into_iter().find(|info| info.session == session);
    assert_eq!(info.unwrap().restarts, 2);

    // A terminated session is not restarted.
    let session = launch(&mut client, "org.weft.hello").await;
    wait_ready(&mut client, session).await;
    assert_eq!(client.request(&Request::TerminateApp { session }).await.unwrap(), Reply::Ok);
    assert_eq!(stopped_reason(&mut client, session).await, "terminated");
    let info = sessions(&mut client).await.into_iter().find(|info| info.session == session);
    assert_eq!(info.unwrap().restarts, 0);
}

/// An app shell that records its arguments, then stays for hello and fails at
/// once for any other app.
fn write_shell(dir: &Path) -> std::path::PathBuf {
    let shell = dir.join("app-shell");
    let record = dir.join("shell-args");
    fs::write(
        &shell,
        format!(
            "#!/bin/sh\necho \"$1 $2 $$\" >> '{}'\ncase \"$1\" in\n  org.weft.hello) exec sleep 600 ;;\n  *) exit 3 ;;\nesac\n",
            record.display()
        ),
    )
    .unwrap();
    fs::set_permissions(&shell, fs::Permissions::from_mode(0o755)).unwrap();
    shell
}

#[tokio::test]
async fn built_apps_a_component_of_another_world_stops_with_the_runtimes_refusal() {
    // hello's package with a component made by hand for another weft:app
    // world (its ipc.send takes a number), signed and installed like any app.
    let fixture = Fixture::start(&[], 30_000);
    let package = fixture.dir.path().join("packages/wrong-world");
    weft_testkit::copy_tree(&weft_testkit::built_package("hello"), &package);
    let manifest = weft_manifest::Manifest::load(&package.join("wapp.toml")).unwrap();
    let wat = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../weft-runtime/tests/fixtures/wrong-world.wat");
    fs::write(package.join(manifest.module.as_path()), wat::parse_file(wat).unwrap()).unwrap();
    let key = weft_pack::keys::load_signing_key(&fixture.dir.path().join("dev.key")).unwrap();
    weft_pack::sign_package(&package, &key).unwrap();
    let keys = weft_pack::keys::TrustedKeys::load(&fixture.dir.path().join("trusted")).unwrap();
    let store = fixture.dir.path().join("store");
    weft_pack::store::install(&package, &store, &keys, Default::default()).unwrap();

    let mut client = fixture.client().await;
    let session = launch(&mut client, "org.weft.hello").await;
    let reason = stopped_reason(&mut client, session).await;
    let expected = "exited 3 (launch refused: the component was built for another world: its \
                    import `weft:app/ipc@0.1.0` has `send` of another type: type mismatch with \
                    parameters: expected `string` found `u32`; WEFT provides \
                    `send: func(message: string) -> result<_, ipc-error>`)";
    assert_eq!(reason, expected);
}

#[tokio::test]
async fn built_apps_the_app_shell_starts_after_ready_and_its_failure_ends_the_session() {
    let scratch = tempfile::tempdir().unwrap();
    let shell = write_shell(scratch.path());
    let fixture = Fixture::with(Options {
        apps: &["hello", "notes"],
        env: &[("WEFT_APP_SHELL_BIN", shell.to_str().unwrap())],
        ..Options::default()
    });
    let mut client = fixture.client().await;
    let session = launch(&mut client, "org.weft.hello").await;
    wait_ready(&mut client, session).await;
    // The shell creates the file before it writes the line: wait for the line.
    let deadline = Instant::now() + Duration::from_secs(10);
    let read_args = || fs::read_to_string(scratch.path().join("shell-args")).unwrap_or_default();
    while !read_args().ends_with('\n') && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    let args = read_args();
    let (args, shell_pid) = args.trim_end().rsplit_once(' ').unwrap();
    assert_eq!(args, format!("org.weft.hello {session}"));
    let shell_pid: u32 = shell_pid.parse().unwrap();
    assert!(!gone_within(shell_pid, Duration::from_millis(200)), "the shell runs");
    assert_eq!(client.request(&Request::TerminateApp { session }).await.unwrap(), Reply::Ok);
    assert_eq!(stopped_reason(&mut client, session).await, "terminated");
    assert!(gone(shell_pid), "the app shell outlived its session");

    // A shell that fails ends its session cleanly, and the daemon stays.
    let session = launch(&mut client, "org.weft.notes").await;
    let pid = pid_of(&client.request(&Request::QueryRunning).await.unwrap(), session);
    assert_eq!(stopped_reason(&mut client, session).await, "app shell exited 3");
    assert!(gone(pid), "the runtime outlived its failed shell");
    assert!(!fixture.dir.path().join(format!("run/weft/sessions/{session}")).exists());

    let missing = Fixture::with(Options {
        apps: &["hello"],
        env: &[("WEFT_APP_SHELL_BIN", "/nonexistent/weft-app-shell")],
        ..Options::default()
    });
    let mut client = missing.client().await;
    let session = launch(&mut client, "org.weft.hello").await;
    let reason = stopped_reason(&mut client, session).await;
    assert!(
        reason.starts_with("app shell failed to start: /nonexistent/weft-app-shell:"),
        "{reason}"
    );
}

/// The MiB counts in `holding N MiB` lines.
fn holdings(lines: &[LogLine]) -> Vec<u32> {
    lines
        .iter()
        .filter(|line| line.stream == LogStream::Stderr)
        .filter_map(|line| line.text.strip_prefix("holding ")?.strip_suffix(" MiB")?.parse().ok())
        .collect()
}

/// A session's log followed from its start to its end: every line, and the
/// reason it stopped.
async fn followed_to_the_end(
    client: &mut weft_protocol::appd_client::Client,
    session: u64,
) -> (Vec<LogLine>, Option<String>) {
    let mut lines = match client.request(&Request::QueryLogs { session, follow: true }).await {
        Ok(Reply::Logs { lines, .. }) => lines,
        other => panic!("{other:?}"),
    };
    let reason = expect_event(client, |message| match message {
        Event::LogLine { session: s, line } if *s == session => {
            lines.push(line.clone());
            None
        }
        Event::LogsEnd { session: s, reason } if *s == session => Some(reason.clone()),
        _ => None,
    })
    .await;
    (lines, reason)
}

#[tokio::test]
async fn built_apps_logs_keep_a_sessions_output_and_follow_it_to_the_end() {
    let fixture = Fixture::start(&["test-memory-bomb"], 30_000);
    let mut client = fixture.client().await;
    let session = launch(&mut client, "org.weft.test.memory-bomb").await;
    let (lines, reason) = followed_to_the_end(&mut client, session).await;
    assert_eq!(reason.as_deref(), Some("exited 5 (memory limit exceeded)"));
    // Every line exactly once, in order: the snapshot and the followed lines meet.
    let counted = holdings(&lines);
    assert!(counted.len() >= 8, "{lines:?}");
    assert_eq!(counted, (1..=counted.len() as u32).collect::<Vec<_>>());

    // The lines stay after the session ends, for the CLI too.
    let kept = match client.request(&Request::QueryLogs { session, follow: false }).await {
        Ok(Reply::Logs { lines, .. }) => lines,
        other => panic!("{other:?}"),
    };
    assert_eq!(kept, lines);
    let printed = stdout_of(&weftctl(&fixture, &["logs", &session.to_string()]));
    assert!(printed.contains(" err holding 1 MiB\n"), "{printed}");
    let followed = stdout_of(&weftctl(&fixture, &["logs", "-f", &session.to_string()]));
    assert!(
        followed.ends_with(&format!(
            "-- session {session} stopped: exited 5 (memory limit exceeded)\n"
        )),
        "{followed}"
    );
    let missing = client.request(&Request::QueryLogs { session: 999, follow: true }).await;
    assert!(matches!(missing, Ok(Reply::Error { code: ErrorCode::NotFound, .. })), "{missing:?}");
}

#[tokio::test]
async fn built_apps_the_apps_output_streams_stay_apart_and_its_exit_status_is_the_reason() {
    let fixture = Fixture::start(&["test-exit-status"], 30_000);
    let mut client = fixture.client().await;
    let session = launch(&mut client, "org.weft.test.exit-status").await;
    let (lines, reason) = followed_to_the_end(&mut client, session).await;
    // The app's own status, not only the runtime's "app failed" (8).
    assert_eq!(reason.as_deref(), Some("exited 8 (app exited with status 42)"));
    let said = |stream: LogStream| -> Vec<&str> {
        lines.iter().filter(|line| line.stream == stream).map(|line| line.text.as_str()).collect()
    };
    assert_eq!(said(LogStream::Stdout), ["to stdout"], "{lines:?}");
    assert_eq!(said(LogStream::Stderr), ["to stderr"], "{lines:?}");
    let runtime = said(LogStream::Runtime);
    assert!(runtime.iter().any(|text| text.contains("sandbox entered")), "{lines:?}");
    assert!(runtime.iter().all(|text| !text.contains("to std")), "{lines:?}");
    let printed = stdout_of(&weftctl(&fixture, &["logs", &session.to_string()]));
    for shown in [" out to stdout\n", " err to stderr\n", " run "] {
        assert!(printed.contains(shown), "{shown:?} not in {printed}");
    }
}

#[tokio::test]
async fn built_apps_sessions_run_in_their_own_cgroup_and_leave_none_behind() {
    let fixture =
        Fixture::with(Options { apps: &["notes"], own_cgroup: true, ..Options::default() });
    let root = fixture.cgroup.clone().unwrap();
    let mut client = fixture.client().await;
    let daemon_pid = fixture.daemon.id().to_string();
    // The daemon moved into its leaf cgroup; its spare runtime starts there
    // and moves into a session's cgroup when it is handed the app.
    let supervisor = fs::read_to_string(root.join("supervisor/cgroup.procs")).unwrap();
    let supervisor: Vec<&str> = supervisor.lines().collect();
    assert!(supervisor.contains(&daemon_pid.as_str()), "the daemon moved into its leaf cgroup");
    for pid in supervisor.iter().filter(|pid| **pid != daemon_pid) {
        assert!(is_spare(pid.parse().unwrap()), "only the spare beside the daemon: {pid}");
    }

    let session = launch(&mut client, "org.weft.notes").await;
    wait_ready(&mut client, session).await;
    let cgroup = root.join(format!("session-{session}"));
    let portal = started_portals_of(&fixture, "org.weft.notes");
    let members: Vec<u32> = fs::read_to_string(cgroup.join("cgroup.procs"))
        .unwrap()
        .lines()
        .map(|pid| pid.parse().unwrap())
        .collect();
    let runtime = pid_of(&client.request(&Request::QueryRunning).await.unwrap(), session);
    assert_eq!(portal.len(), 1);
    let mut expected = vec![runtime, portal[0]];
    expected.sort_unstable();
    let mut members = members;
    members.sort_unstable();
    assert_eq!(members, expected, "the runtime and the portal, nothing else");
    let usage = sessions(&mut client).await.into_iter().find(|info| info.session == session);
    let usage = usage.unwrap();
    assert!(usage.memory_bytes.unwrap() > 1 << 20, "{usage:?}");
    assert!(usage.cpu_ms.is_some(), "{usage:?}");

    assert_eq!(client.request(&Request::TerminateApp { session }).await.unwrap(), Reply::Ok);
    assert_eq!(stopped_reason(&mut client, session).await, "terminated");
    assert!(!cgroup.exists(), "the session's cgroup was removed");
    assert!(gone(runtime) && gone(portal[0]));

    // Turned off: no session cgroup, and the daemon leaves its cgroup alone.
    let off = Fixture::with(Options {
        apps: &["notes"],
        own_cgroup: true,
        env: &[("WEFT_DISABLE_CGROUP", "1")],
        ..Options::default()
    });
    let mut client = off.client().await;
    let session = launch(&mut client, "org.weft.notes").await;
    wait_ready(&mut client, session).await;
    let root = off.cgroup.clone().unwrap();
    assert!(!root.join("supervisor").exists() && !root.join(format!("session-{session}")).exists());
}

#[tokio::test]
async fn built_apps_a_shared_cgroup_is_not_taken_over() {
    // The test's daemons share the test runner's cgroup with other processes:
    // that cgroup is not delegated, so the daemon must not touch it.
    let before: Vec<_> =
        fs::read_dir(own_cgroup_dir()).unwrap().flatten().map(|e| e.path()).collect();
    let fixture = Fixture::start(&["hello"], 30_000);
    let mut client = fixture.client().await;
    let session = launch(&mut client, "org.weft.hello").await;
    wait_ready(&mut client, session).await;
    let info = sessions(&mut client).await.into_iter().find(|info| info.session == session);
    assert!(info.unwrap().memory_bytes.unwrap() > 1 << 20, "usage comes from /proc");
    let after: Vec<_> =
        fs::read_dir(own_cgroup_dir()).unwrap().flatten().map(|e| e.path()).collect();
    assert!(
        after
            .iter()
            .all(|path| before.contains(path) || path.to_string_lossy().contains("weft-test-")),
        "new cgroups appeared: {after:?}"
    );
}

#[tokio::test]
async fn built_apps_ui_messages_beyond_the_rate_limit_are_refused_and_the_app_lives() {
    let fixture = Fixture::start(&["notes"], 30_000);
    let mut client = fixture.client().await;
    let session = launch(&mut client, "org.weft.notes").await;
    wait_ready(&mut client, session).await;
    // Sent at once while the answers are read, on a raw connection.
    let stream = tokio::net::UnixStream::connect(fixture.socket()).await.unwrap();
    let (mut reader, mut writer) = stream.into_split();
    let hello = Request::Hello { versions: vec![weft_protocol::appd::PROTOCOL_VERSION] };
    write_frame(&mut writer, &hello).await.unwrap();
    let send_all = async move {
        for _ in 0..1_300 {
            let request = Request::IpcForward { session, message: "ping".into() };
            write_frame(&mut writer, &request).await.unwrap();
        }
        writer
    };
    let read_all = async {
        let (mut answered, mut limited) = (0, 0);
        while answered < 1_300 {
            match read_frame::<FromAppd>(&mut reader).await.unwrap() {
                FromAppd::Reply(Reply::Ok) => answered += 1,
                FromAppd::Reply(Reply::Error { code: ErrorCode::RateLimited, .. }) => {
                    answered += 1;
                    limited += 1;
                }
                FromAppd::Reply(Reply::Error { code, message }) => panic!("{code:?}: {message}"),
                _ => {}
            }
        }
        limited
    };
    let (_writer, limited) = tokio::join!(send_all, read_all);
    assert!(limited > 0, "1,300 messages at once went through a burst of 1,000");
    let state = client.request(&Request::QueryAppState { session }).await.unwrap();
    assert!(matches!(state, Reply::SessionState { state: SessionState::Running, .. }), "{state:?}");
    let info = sessions(&mut client).await.into_iter().find(|info| info.session == session);
    assert_eq!(info.unwrap().ipc_to_app, 1_300 - limited);
}

#[tokio::test]
async fn built_apps_weftctl_drives_the_daemon() {
    let fixture = Fixture::start(&["hello", "notes"], 30_000);
    let installed = stdout_of(&weftctl(&fixture, &["installed"]));
    assert!(installed.contains("org.weft.hello") && installed.contains("org.weft.notes"));

    let launched = stdout_of(&weftctl(&fixture, &["launch", "org.weft.notes"]));
    assert_eq!(launched, "session 1: starting org.weft.notes\nsession 1: ready\n");
    let listed: serde_json::Value =
        serde_json::from_str(&stdout_of(&weftctl(&fixture, &["ps", "--json"]))).unwrap();
    assert_eq!(listed[0]["app_id"], "org.weft.notes");
    assert_eq!(listed[0]["state"], "running");
    assert!(listed[0]["memory_bytes"].as_u64().unwrap() > 0);
    let table = stdout_of(&weftctl(&fixture, &["ps"]));
    assert!(table.lines().nth(1).unwrap().contains("org.weft.notes"), "{table}");

    assert_eq!(stdout_of(&weftctl(&fixture, &["send", "1", "list"])), "notes\n");
    let top = stdout_of(&weftctl(&fixture, &["top", "-n", "2", "--interval", "0.2"]));
    assert_eq!(top.matches("SESSION").count(), 2, "{top}");
    assert_eq!(top.matches("org.weft.notes").count(), 2, "{top}");
    assert!(
        top.lines().nth(1).unwrap().split_whitespace().nth(5) == Some("1"),
        "one IPC message out: {top}"
    );

    let restarted = stdout_of(&weftctl(&fixture, &["restart", "1"]));
    assert_eq!(
        restarted,
        "session 1: stopped (terminated)\nsession 2: starting org.weft.notes\nsession 2: ready\n"
    );
    assert_eq!(stdout_of(&weftctl(&fixture, &["kill", "2"])), "session 2: stopping\n");
    let refused = weftctl(&fixture, &["kill", "42"]);
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("no session 42"), "{refused:?}");
    let unknown = weftctl(&fixture, &["launch", "../../tmp/evil"]);
    assert!(String::from_utf8_lossy(&unknown.stderr).contains("InvalidAppId"), "{unknown:?}");

    let completions = stdout_of(&weftctl(&fixture, &["completions", "bash"]));
    assert!(completions.contains("weftctl") && completions.contains("restart"));
}

/// The compositor binary, started with its control socket in `dir`.
struct Compositor {
    process: std::process::Child,
    control: std::path::PathBuf,
}

impl Compositor {
    fn start(dir: &Path) -> Self {
        let runtime = dir.join("compositor-run");
        fs::create_dir_all(&runtime).unwrap();
        fs::set_permissions(&runtime, fs::Permissions::from_mode(0o700)).unwrap();
        let control = dir.join("compositor.sock");
        let process = Command::new(runtime_bin().with_file_name("weft-compositor"))
            .args(["--size", "320x240", "--socket", "wayland-test", "--control-socket"])
            .arg(&control)
            .env("XDG_RUNTIME_DIR", &runtime)
            .spawn()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(30);
        while !control.exists() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
        Self { process, control }
    }

    /// A control connection that receives the sessions' window events.
    fn events(&self) -> std::os::unix::net::UnixStream {
        let mut stream = std::os::unix::net::UnixStream::connect(&self.control).unwrap();
        stream.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
        let hello = ControlRequest::Hello { versions: vec![CONTROL_PROTOCOL_VERSION] };
        write_frame_sync(&mut stream, &hello).unwrap();
        assert!(matches!(read_frame_sync(&mut stream).unwrap(), ControlReply::Welcome { .. }));
        stream
    }
}

impl Drop for Compositor {
    fn drop(&mut self) {
        let _ = self.process.kill();
        let _ = self.process.wait();
    }
}

#[tokio::test]
async fn built_apps_the_app_shell_gets_its_sessions_own_compositor_socket() {
    let scratch = tempfile::tempdir().unwrap();
    let compositor = Compositor::start(scratch.path());
    let shell = scratch.path().join("app-shell");
    // A stock Wayland client stands in for the app's UI shell.
    fs::write(&shell, "#!/bin/sh\nexec weston-simple-shm\n").unwrap();
    fs::set_permissions(&shell, fs::Permissions::from_mode(0o755)).unwrap();
    let fixture = Fixture::with(Options {
        apps: &["notes"],
        env: &[
            ("WEFT_APP_SHELL_BIN", shell.to_str().unwrap()),
            ("WEFT_COMPOSITOR_SOCKET", compositor.control.to_str().unwrap()),
        ],
        ..Options::default()
    });
    let mut events = compositor.events();
    let mut client = fixture.client().await;
    let session = launch(&mut client, "org.weft.notes").await;
    wait_ready(&mut client, session).await;
    let opened: FromCompositor = read_frame_sync(&mut events).unwrap();
    assert!(
        matches!(opened, FromCompositor::Event(ControlEvent::WindowOpened { session: s, .. }) if s == session),
        "{opened:?}"
    );
    let socket = scratch.path().join(format!("compositor-run/weft-session-{session}"));
    assert!(socket.exists(), "the session's Wayland socket");

    assert_eq!(client.request(&Request::TerminateApp { session }).await.unwrap(), Reply::Ok);
    assert_eq!(stopped_reason(&mut client, session).await, "terminated");
    let closed: FromCompositor = read_frame_sync(&mut events).unwrap();
    assert!(
        matches!(closed, FromCompositor::Event(ControlEvent::WindowClosed { session: s, .. }) if s == session),
        "{closed:?}"
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    while socket.exists() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    assert!(!socket.exists(), "the session's socket went with it");

    // No compositor answering: the shell cannot get a session and the app stops.
    drop(compositor);
    let session = launch(&mut client, "org.weft.notes").await;
    let reason = stopped_reason(&mut client, session).await;
    assert!(
        reason.starts_with("app shell has no compositor session: connecting to the compositor at"),
        "{reason}"
    );
}

#[test]
fn built_apps_malformed_settings_stop_the_daemon_with_their_name() {
    let run = tempfile::tempdir().unwrap();
    for (name, value) in [
        ("WEFT_RESTART", "sometimes"),
        ("WEFT_RESTART_MAX", "many"),
        ("WEFT_READY_TIMEOUT_MS", "soon"),
        ("WEFT_APPD_WS_PORT", "99999"),
    ] {
        let output = Command::new(env!("CARGO_BIN_EXE_weft-appd"))
            .env("XDG_RUNTIME_DIR", run.path())
            .env(name, value)
            .output()
            .unwrap();
        assert!(!output.status.success(), "{name}={value} was accepted");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains(name) && stderr.contains(value), "{stderr}");
    }
}

#[tokio::test]
async fn built_apps_a_killed_daemons_sessions_are_killed_and_removed_by_the_next() {
    // An app shell that starts a process of its own: PR_SET_PDEATHSIG ends
    // the shell with the daemon, not what the shell started.
    let (mut fixture, marker, _shell) = with_forking_app_shell(600);
    let root = fixture.cgroup.clone().unwrap();
    let mut client = fixture.client().await;
    let session = launch(&mut client, "org.weft.hello").await;
    wait_ready(&mut client, session).await;
    let deadline = Instant::now() + Duration::from_secs(10);
    while processes_mentioning(&marker).is_empty() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    let orphans = processes_mentioning(&marker);
    assert_eq!(orphans.len(), 1, "the shell's own process did not start");
    kill_9(fixture.daemon.id());
    fixture.daemon.wait().unwrap();
    std::thread::sleep(Duration::from_millis(300));
    assert!(
        !gone(orphans[0]),
        "the orphan should outlive the killed daemon (else this test tests nothing)"
    );
    assert!(root.join(format!("session-{session}")).exists());

    fixture.restart();
    assert!(
        gone_within(orphans[0], Duration::from_secs(5)),
        "the next daemon left the orphan running"
    );
    let stale: Vec<_> = fs::read_dir(&root)
        .unwrap()
        .filter_map(|entry| entry.ok()?.file_name().into_string().ok())
        .filter(|name| name.starts_with("session-"))
        .collect();
    assert!(stale.is_empty(), "{stale:?} left in {}", root.display());
}

#[test]
fn a_mount_socket_and_a_mount_helper_together_stop_the_daemon() {
    let run = tempfile::tempdir().unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_weft-appd"))
        .env("XDG_RUNTIME_DIR", run.path())
        .env("WEFT_MOUNT_SOCKET", "/run/weft/mount.sock")
        .env("WEFT_MOUNT_HELPER", "/usr/bin/weft-mount-helper")
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("both a mount socket (/run/weft/mount.sock) and a mount helper (/usr/bin/weft-mount-helper) are set"),
        "{stderr}"
    );
}

#[test]
fn malformed_settings_files_stop_the_daemon_naming_the_key() {
    let run = tempfile::tempdir().unwrap();
    let file = run.path().join("appd.toml");
    for (text, expected) in [
        ("ready-timeout = 5", "unknown field `ready-timeout`"),
        ("[restart]\nretries = 2", "unknown field `retries`"),
        ("[session]\nmemory-max = 5", "memory-max"),
        ("ws-port = 99999", "ws-port"),
        ("[restart]\npolicy = \"sometimes\"", "restart policy \"sometimes\""),
        ("not toml at all", "is not valid settings"),
    ] {
        fs::write(&file, text).unwrap();
        let output = Command::new(env!("CARGO_BIN_EXE_weft-appd"))
            .arg("--config")
            .arg(&file)
            .env("XDG_RUNTIME_DIR", run.path())
            .output()
            .unwrap();
        assert!(!output.status.success(), "{text:?} was accepted");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains(expected), "{text:?}: {stderr}");
    }
    let missing = Command::new(env!("CARGO_BIN_EXE_weft-appd"))
        .args(["--config", "/nonexistent/appd.toml"])
        .env("XDG_RUNTIME_DIR", run.path())
        .output()
        .unwrap();
    assert!(
        String::from_utf8_lossy(&missing.stderr)
            .contains("reading the settings file /nonexistent/appd.toml")
    );
}
