//! The runtime with real components built from apps/: each capability granted
//! and denied, each limit, READY once, and every hostile app's specific error.
//! Names start with `built_apps_` so sandboxes without the guest toolchain can
//! skip them by name.

mod common;

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::{Launch, built_package, package_with};
use weft_protocol::session::{FromApp, ToApp};

const REFUSED: i32 = 3;
const TRAPPED: i32 = 4;
const MEMORY_LIMIT: i32 = 5;
const CPU_BUDGET: i32 = 6;
const STACK_OVERFLOW: i32 = 7;
/// The notes app's own capabilities.
const READ_WRITE_NOTES: &str =
    "\"fs:rw:app-data\", \"fs:rw:xdg-documents\", \"sys:clipboard\", \"sys:notifications\"";

#[test]
fn built_apps_hello_is_ready_once_and_answers_its_ui() {
    let mut app = Launch::new(built_package("hello")).start();
    app.expect_ready();
    app.send_ipc("WEFT");
    assert_eq!(app.recv_ipc(), "Hello, WEFT!");
    app.send_ipc("again");
    assert_eq!(app.recv_ipc(), "Hello, again!");
    // It answers until its UI goes away.
    app.close_session();
    assert_eq!(app.exit_code(), 0, "{}", app.stderr());
    // READY was the only line on stdout.
    assert_eq!(app.next_stdout_line(Duration::from_millis(100)), None);
}

#[test]
fn built_apps_hello_without_a_supervisor_sees_a_closed_channel() {
    let mut launch = Launch::new(built_package("hello"));
    launch.session = false;
    let mut app = launch.start();
    app.expect_ready();
    assert_eq!(app.exit_code(), 0);
    assert!(app.stderr().contains("the UI closed the channel"), "{}", app.stderr());
}

/// SHA-256 of a file, hex, as a signed statement lists it.
fn sha256_of(path: &Path) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(fs::read(path).unwrap()))
}

#[test]
fn built_apps_a_package_changed_after_verification_is_refused() {
    // A package in a writable store, as weft-appd verified it: the runtime
    // gets the digests of what was verified and runs only those bytes.
    let scratch = tempfile::tempdir().unwrap();
    let package = scratch.path().join("hello");
    weft_testkit::copy_tree(&built_package("hello"), &package);
    let digests = |package: &Path| {
        vec![
            "--manifest-sha256".to_owned(),
            sha256_of(&package.join("wapp.toml")),
            "--component-sha256".to_owned(),
            sha256_of(&package.join("app.wasm")),
        ]
    };
    let verified = digests(&package);
    let mut launch = Launch::new(package.clone());
    launch.session = false;
    launch.extra_args = verified.clone();
    let mut app = launch.start();
    app.expect_ready();
    assert_eq!(app.exit_code(), 0, "{}", app.stderr());

    // Between verification and launch, the manifest grants itself more.
    let manifest = fs::read_to_string(package.join("wapp.toml")).unwrap();
    let widened = manifest.replace("capabilities = []", "capabilities = [\"sys:notifications\"]");
    assert_ne!(manifest, widened);
    fs::write(package.join("wapp.toml"), widened).unwrap();
    let mut launch = Launch::new(package.clone());
    launch.session = false;
    launch.extra_args = verified;
    let mut app = launch.start();
    assert_eq!(app.exit_code(), REFUSED);
    let stderr = app.stderr();
    assert!(
        stderr.contains("launch refused: ")
            && stderr.contains("wapp.toml changed after it was verified"),
        "{stderr}"
    );
    assert_eq!(app.next_stdout_line(Duration::from_millis(50)), None, "no READY for a refused app");
}

/// weft-appd checks a store package's files while the runtime starts, and
/// tells it on `--verified-fd` when they are the signed ones: until then none
/// of the app runs, and a pipe closed or a wrong word refuses the launch. The
/// supervisor's end here is written by hand, as a failing or hostile one would.
#[test]
fn built_apps_an_app_runs_only_once_its_files_are_confirmed() {
    let launch_with_pipe = || {
        let (read, write) = std::io::pipe().unwrap();
        let mut launch = Launch::new(built_package("hello"));
        launch.verified = Some(fs::File::from(std::os::fd::OwnedFd::from(read)));
        (launch.start(), write)
    };

    let (app, mut supervisor) = launch_with_pipe();
    assert_eq!(
        app.next_stdout_line(Duration::from_millis(300)),
        None,
        "the app ran before its files were confirmed: {}",
        app.stderr()
    );
    supervisor.write_all(&[weft_protocol::runtime::PACKAGE_VERIFIED]).unwrap();
    app.expect_ready();

    for (word, said) in
        [(None, "the supervisor closed --verified-fd"), (Some(b'v'), "--verified-fd said 'v'")]
    {
        let (mut app, mut supervisor) = launch_with_pipe();
        if let Some(word) = word {
            supervisor.write_all(&[word]).unwrap();
        }
        drop(supervisor);
        assert_eq!(app.exit_code(), REFUSED, "{}", app.stderr());
        let stderr = app.stderr();
        assert!(
            stderr.contains("launch refused: the supervisor did not confirm the package's files")
                && stderr.contains(said),
            "{stderr}"
        );
        assert_eq!(app.next_stdout_line(Duration::from_millis(50)), None, "no READY: {stderr}");
    }
}

#[test]
fn built_apps_an_undeclared_import_refuses_the_launch() {
    let mut app = Launch::new(built_package("test-undeclared-import")).start();
    assert_eq!(app.exit_code(), REFUSED);
    assert!(
        app.stderr().contains(
            "launch refused: the component imports weft:app/notifications@0.1.0 but the manifest lacks sys:notifications"
        ),
        "{}",
        app.stderr()
    );
    assert_eq!(app.next_stdout_line(Duration::from_millis(50)), None, "no READY for a refused app");
}

/// hello's package with its component replaced by `component`'s bytes.
fn package_with_component(dir: &Path, component: &[u8]) -> PathBuf {
    let package = package_with("hello", dir, "");
    let manifest = weft_manifest::Manifest::load(&package.join("wapp.toml")).unwrap();
    fs::write(package.join(manifest.module.as_path()), component).unwrap();
    package
}

#[test]
fn built_apps_a_component_of_another_world_is_refused_naming_the_function() {
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/wrong-world.wat");
    let component = wat::parse_file(&fixture).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut app = Launch::new(package_with_component(&dir.path().join("pkg"), &component)).start();
    assert_eq!(app.exit_code(), REFUSED, "{}", app.stderr());
    let expected = "launch refused: the component was built for another world: its import \
                    `weft:app/ipc@0.1.0` has `send` of another type: type mismatch with \
                    parameters: expected `string` found `u32`; WEFT provides \
                    `send: func(message: string) -> result<_, ipc-error>`";
    assert!(app.stderr().contains(expected), "{}", app.stderr());
    assert_eq!(app.next_stdout_line(Duration::from_millis(50)), None, "no READY for a refused app");
}

#[test]
fn built_apps_a_granted_notification_reaches_the_supervisor() {
    let dir = tempfile::tempdir().unwrap();
    let package =
        package_with("test-undeclared-import", &dir.path().join("pkg"), "\"sys:notifications\"");
    let mut app = Launch::new(package).start();
    app.expect_ready();
    assert_eq!(
        app.recv(Duration::from_secs(30)),
        Some(FromApp::Notification { title: "hi".into(), body: "this must never be shown".into() })
    );
    assert_eq!(app.exit_code(), 0, "{}", app.stderr());
}

#[test]
fn built_apps_a_memory_bomb_stops_at_its_cap() {
    let mut app = Launch::new(built_package("test-memory-bomb")).start();
    app.expect_ready();
    assert_eq!(app.exit_code(), MEMORY_LIMIT, "{}", app.stderr());
    let stderr = app.stderr();
    assert!(stderr.contains("memory limit exceeded"), "{stderr}");
    assert!(stderr.contains("its cap is 16777216"), "{stderr}");
}

#[test]
fn built_apps_an_infinite_loop_ends_within_100_ms_of_its_budget() {
    let mut launch = Launch::new(built_package("test-infinite-loop"));
    launch.policy = Some("cpu-budget-ms = 200\n".into());
    let mut app = launch.start();
    app.expect_ready();
    assert_eq!(app.exit_code(), CPU_BUDGET, "{}", app.stderr());
    let stderr = app.stderr();
    let used: u64 = stderr
        .split("computed for ")
        .nth(1)
        .and_then(|rest| rest.split(' ').next())
        .and_then(|ms| ms.parse().ok())
        .unwrap_or_else(|| panic!("no CPU figure in: {stderr}"));
    assert!((200..=300).contains(&used), "stopped after {used} ms of CPU: {stderr}");
}

#[test]
fn built_apps_an_app_that_never_reports_ready_never_gets_ready_printed() {
    let mut app = Launch::new(built_package("test-never-ready")).start();
    assert_eq!(app.next_stdout_line(Duration::from_millis(1500)), None);
    assert!(app.child.try_wait().unwrap().is_none(), "it should still be waiting");
    app.close_session();
    assert_eq!(app.exit_code(), 0, "{}", app.stderr());
}

#[test]
fn built_apps_a_trap_at_start_is_reported_as_a_trap() {
    let mut app = Launch::new(built_package("test-trap-at-start")).start();
    assert_eq!(app.exit_code(), TRAPPED, "{}", app.stderr());
    assert!(app.stderr().contains("settings must exist"), "{}", app.stderr());
    assert_eq!(app.next_stdout_line(Duration::from_millis(50)), None);
}

#[test]
fn built_apps_a_stack_overflow_is_reported_as_such() {
    let mut app = Launch::new(built_package("test-stack-overflow")).start();
    app.expect_ready();
    assert_eq!(app.exit_code(), STACK_OVERFLOW, "{}", app.stderr());
}

#[test]
fn built_apps_wasi_paths_cannot_leave_the_granted_directory() {
    let data = tempfile::tempdir().unwrap();
    let mut launch = Launch::new(built_package("test-path-escape"));
    launch.app_data = Some(fs::File::open(data.path()).unwrap());
    let mut app = launch.start();
    app.expect_ready();
    let mut verdicts = Vec::new();
    loop {
        let message = app.recv_ipc();
        if message == "done" {
            break;
        }
        verdicts.push(message);
    }
    assert_eq!(verdicts.len(), 11, "{verdicts:?}");
    for verdict in &verdicts[..10] {
        assert!(verdict.starts_with("refused "), "{verdict}");
    }
    // Appending works inside (pwritev2 with RWF_APPEND passes the filter).
    assert_eq!(verdicts[10], "inside ok appended");
    assert_eq!(fs::read_to_string(data.path().join("inside.txt")).unwrap(), "ok appended");
    // The working directory is the data directory.
    assert_eq!(app.exit_code(), 0);
    assert_eq!(fs::read_to_string(data.path().join("relative.txt")).unwrap(), "here");
}

/// Starts notes with `capabilities`, its data and documents directories given;
/// its package copy goes into the documents directory (cleaned up with it).
fn notes(capabilities: &str, data: &Path, documents: &Path) -> common::RunningApp {
    let package = package_with("notes", &documents.join(".package"), capabilities);
    let mut launch = Launch::new(package);
    launch.app_data = Some(fs::File::open(data).unwrap());
    launch.documents = Some(fs::File::open(documents).unwrap());
    let app = launch.start();
    app.expect_ready();
    app
}

#[test]
fn built_apps_notes_reads_and_writes_what_it_is_granted() {
    let (data, documents) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let mut app = notes(READ_WRITE_NOTES, data.path(), documents.path());
    for (command, reply) in [
        ("save todo buy milk", "saved todo"),
        ("save ideas weft", "saved ideas"),
        ("load todo", "note todo buy milk"),
        ("list", "notes ideas todo"),
        ("export todo", "exported todo"),
        ("save ../escape nope", "error bad note name \"../escape\""),
    ] {
        app.send_ipc(command);
        // A save is announced with a notification before its answer.
        if let Some(name) = reply.strip_prefix("saved ") {
            let notification = app.recv(Duration::from_secs(30));
            let Some(FromApp::Notification { title, body }) = notification else {
                panic!("expected a notification for {command:?}, got {notification:?}")
            };
            assert_eq!((title.as_str(), body.as_str()), ("Note saved", name));
        }
        assert_eq!(app.recv_ipc(), reply, "{command}");
    }
    assert_eq!(fs::read_to_string(data.path().join("todo")).unwrap(), "buy milk");
    assert_eq!(fs::read_to_string(documents.path().join("todo")).unwrap(), "buy milk");
    fs::write(documents.path().join("letter"), "dear").unwrap();
    app.send_ipc("import letter");
    assert_eq!(app.recv_ipc(), "imported letter");
    assert_eq!(fs::read_to_string(data.path().join("letter")).unwrap(), "dear");
    app.close_session();
    assert_eq!(app.exit_code(), 0);
}

#[test]
fn built_apps_the_clipboard_goes_through_the_supervisor() {
    let (data, documents) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    fs::write(data.path().join("todo"), "buy milk").unwrap();
    let mut app = notes(READ_WRITE_NOTES, data.path(), documents.path());
    app.send_ipc("copy todo");
    let message = app.recv(Duration::from_secs(30));
    let Some(FromApp::ClipboardWrite { id, text }) = message else {
        panic!("expected a clipboard write, got {message:?}; stderr:\n{}", app.stderr())
    };
    assert_eq!(text, "buy milk");
    app.send(&ToApp::Done { id, error: None });
    assert_eq!(app.recv_ipc(), "copied todo");

    app.send_ipc("paste pasted");
    let Some(FromApp::ClipboardRead { id }) = app.recv(Duration::from_secs(30)) else {
        panic!("expected a clipboard read; stderr:\n{}", app.stderr())
    };
    app.send(&ToApp::ClipboardText { id, text: Some("from the clipboard".into()) });
    assert_eq!(app.recv_ipc(), "pasted pasted");
    assert_eq!(fs::read_to_string(data.path().join("pasted")).unwrap(), "from the clipboard");

    // A refusal by the supervisor reaches the app as `denied`.
    app.send_ipc("copy todo");
    let Some(FromApp::ClipboardWrite { id, .. }) = app.recv(Duration::from_secs(30)) else {
        panic!("expected a clipboard write")
    };
    app.send(&ToApp::Done { id, error: Some("the app is not focused".into()) });
    assert_eq!(app.recv_ipc(), "error copy todo: ClipboardError::Denied");
}

/// The runtime reads the channel on the app's thread: UI messages that come
/// while a clipboard request waits for its answer are kept for `recv`, in
/// order, and an answer to nobody is ignored.
#[test]
fn built_apps_ui_messages_sent_while_a_request_waits_are_kept_in_order() {
    let (data, documents) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    fs::write(data.path().join("todo"), "buy milk").unwrap();
    let mut app = notes(READ_WRITE_NOTES, data.path(), documents.path());
    app.send_ipc("copy todo");
    let Some(FromApp::ClipboardWrite { id, .. }) = app.recv(Duration::from_secs(30)) else {
        panic!("expected a clipboard write; stderr:\n{}", app.stderr())
    };
    // Before the answer: a stale answer, then two commands.
    app.send(&ToApp::Done { id: id + 100, error: None });
    app.send_ipc("load todo");
    app.send_ipc("list");
    app.send(&ToApp::Done { id, error: None });
    assert_eq!(app.recv_ipc(), "copied todo");
    assert_eq!(app.recv_ipc(), "note todo buy milk");
    assert!(app.recv_ipc().starts_with("notes "), "the second command was kept too");
    app.close_session();
    assert_eq!(app.exit_code(), 0, "{}", app.stderr());
}

#[test]
fn built_apps_read_only_grants_cannot_write() {
    let (data, documents) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    fs::write(data.path().join("kept"), "old text").unwrap();
    let mut app = notes(
        "\"fs:read:app-data\", \"fs:read:xdg-documents\", \"sys:clipboard\", \"sys:notifications\"",
        data.path(),
        documents.path(),
    );
    app.send_ipc("load kept");
    assert_eq!(app.recv_ipc(), "note kept old text");
    app.send_ipc("save kept new text");
    assert!(app.recv_ipc().starts_with("error save kept:"));
    app.send_ipc("save fresh text");
    assert!(app.recv_ipc().starts_with("error save fresh:"));
    app.send_ipc("export kept");
    assert!(app.recv_ipc().starts_with("error export kept:"));
    assert_eq!(fs::read_to_string(data.path().join("kept")).unwrap(), "old text");
    assert!(!data.path().join("fresh").exists());
    assert!(!documents.path().join("kept").exists());
}

#[test]
fn built_apps_a_granted_directory_must_be_passed() {
    let mut app = Launch::new(built_package("notes")).start();
    assert_eq!(app.exit_code(), REFUSED);
    assert!(
        app.stderr().contains(
            "launch refused: the app is granted fs:rw:app-data but no --app-data-fd was given"
        ),
        "{}",
        app.stderr()
    );
}

#[test]
fn built_apps_clock_pushes_time_and_sleeps_between_ticks() {
    let mut app = Launch::new(built_package("clock")).start();
    app.expect_ready();
    let first = app.recv_ipc();
    app.send_ipc("interval 100");
    let started = Instant::now();
    let ticks: Vec<u128> =
        (0..4).map(|_| app.recv_ipc().strip_prefix("time ").unwrap().parse().unwrap()).collect();
    assert!(first.starts_with("time "), "{first}");
    assert!(ticks.windows(2).all(|pair| pair[1] >= pair[0]), "{ticks:?}");
    assert!(started.elapsed() >= Duration::from_millis(250), "ticks came too fast: {ticks:?}");
    app.send_ipc("stop");
    assert_eq!(app.exit_code(), 0, "{}", app.stderr());
}

#[test]
fn built_apps_an_ipc_flood_is_rate_limited_without_losing_the_runtime() {
    let mut app = Launch::new(built_package("test-ipc-flood")).start();
    app.expect_ready();
    let mut received = 0u32;
    let refused: u32 = loop {
        let message = app.recv_ipc();
        if let Some(count) = message.strip_prefix("refused ") {
            break count.parse().unwrap();
        }
        assert!(message.starts_with("flood "), "{message}");
        received += 1;
    };
    assert!(refused > 0, "the flood was not limited");
    assert_eq!(received + refused, 20_000);
    assert!(received >= 1_000, "the burst must get through: {received}");
    assert_eq!(app.exit_code(), 0, "{}", app.stderr());
}

#[test]
fn built_apps_oversized_and_malformed_messages_are_refused_and_skipped() {
    let mut app = Launch::new(built_package("hello")).start();
    app.expect_ready();
    app.send_ipc(&"x".repeat(weft_protocol::session::MAX_IPC_MESSAGE_BYTES + 1));
    match app.recv(Duration::from_secs(30)) {
        Some(FromApp::Error { message }) => {
            assert!(message.contains("the limit is 65536"), "{message}");
        }
        other => panic!("expected an error report, got {other:?}"),
    }
    app.send(&ToApp::Done { id: 99, error: None });
    app.send_ipc("still here");
    assert_eq!(app.recv_ipc(), "Hello, still here!");
    app.close_session();
    assert_eq!(app.exit_code(), 0);
}

/// A one-thread HTTP server on 127.0.0.1 answering every request with
/// `response`; returns its port and a counter of connections it accepted.
fn http_server(response: &'static str) -> (u16, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
    use std::io::{Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let accepted = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counter = std::sync::Arc::clone(&accepted);
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { return };
            counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            let mut request = [0u8; 4096];
            let _ = stream.read(&mut request);
            let _ = stream.write_all(response.as_bytes());
        }
    });
    (port, accepted)
}

#[test]
fn built_apps_fetch_reaches_only_its_declared_origin() {
    let (allowed_port, allowed_hits) =
        http_server("HTTP/1.1 200 OK\r\ncontent-length: 5\r\nconnection: close\r\n\r\nhello");
    let (other_port, other_hits) =
        http_server("HTTP/1.1 200 OK\r\ncontent-length: 6\r\nconnection: close\r\n\r\nsecret");
    let redirect: &'static str = Box::leak(
        format!("HTTP/1.1 302 Found\r\nlocation: http://127.0.0.1:{other_port}/\r\ncontent-length: 0\r\nconnection: close\r\n\r\n")
            .into_boxed_str(),
    );
    let (redirect_port, _) = http_server(redirect);
    let scratch = tempfile::tempdir().unwrap();
    let capabilities = format!(
        "\"net:fetch:http://127.0.0.1:{allowed_port}\", \"net:fetch:http://127.0.0.1:{redirect_port}\""
    );
    let package = package_with("fetch", &scratch.path().join("fetch"), &capabilities);
    let mut app = Launch::new(package).start();
    app.expect_ready();

    app.send_ipc(&format!("http://127.0.0.1:{allowed_port}/greeting"));
    assert_eq!(app.recv_ipc(), "status 200 hello");

    app.send_ipc(&format!("http://127.0.0.1:{other_port}/"));
    assert_eq!(app.recv_ipc(), "error ErrorCode::HttpRequestDenied");
    app.send_ipc(&format!("http://localhost:{allowed_port}/"));
    assert_eq!(app.recv_ipc(), "error ErrorCode::HttpRequestDenied");
    app.send_ipc("https://example.org/");
    assert_eq!(app.recv_ipc(), "error ErrorCode::HttpRequestDenied");

    // A redirect is answered as is; following it is a new request, checked again.
    app.send_ipc(&format!("http://127.0.0.1:{redirect_port}/"));
    assert_eq!(app.recv_ipc(), "status 302 ");
    assert_eq!(
        other_hits.load(std::sync::atomic::Ordering::SeqCst),
        0,
        "a denied origin was contacted"
    );
    assert_eq!(allowed_hits.load(std::sync::atomic::Ordering::SeqCst), 1);
    app.close_session();
    assert_eq!(app.exit_code(), 0, "{}", app.stderr());
}

#[test]
fn built_apps_fetch_without_the_capability_is_refused() {
    let scratch = tempfile::tempdir().unwrap();
    let package = package_with("fetch", &scratch.path().join("fetch"), "");
    let mut app = Launch::new(package).start();
    assert_eq!(app.exit_code(), REFUSED);
    assert!(app.stderr().contains("but the manifest lacks net:fetch:<origin>"), "{}", app.stderr());
}
