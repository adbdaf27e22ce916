//! weft-appd with real processes: the daemon binary, weft-runtime, signed
//! apps installed in a real store, a client on the real socket.

mod common;

use std::fs;
use std::process::Command;

use common::*;
use weft_protocol::appd::{ErrorCode, FromAppd, Reply, Request, SessionState};

#[tokio::test]
async fn built_apps_hello_starts_answers_its_ui_until_terminated() {
    let fixture = Fixture::start(&["hello"], 30_000);
    let mut client = fixture.client().await;
    let session = launch(&mut client, "org.weft.hello").await;
    wait_ready(&mut client, session).await;
    let state = client.request(&Request::QueryAppState { session }).await.unwrap();
    assert!(matches!(state, Reply::SessionState { state: SessionState::Running, .. }), "{state:?}");
    let answer = say(&mut client, session, "WEFT").await;
    assert_eq!(answer, "Hello, WEFT!");
    assert_eq!(say(&mut client, session, "again").await, "Hello, again!");
    client.request(&Request::TerminateApp { session }).await.unwrap();
    assert_eq!(stopped_reason(&mut client, session).await, "terminated");
}

#[tokio::test]
async fn built_apps_focus_and_attach_need_a_session_and_focus_a_compositor() {
    let fixture = Fixture::start(&["hello"], 30_000);
    let mut client = fixture.client().await;
    let unknown = client.request(&Request::FocusSession { session: 42 }).await.unwrap();
    assert!(matches!(unknown, Reply::Error { code: ErrorCode::NotFound, .. }), "{unknown:?}");
    // Nor can a UI attach to a session that does not exist.
    let unknown = client.request(&Request::AttachUi { session: 42 }).await.unwrap();
    assert!(matches!(unknown, Reply::Error { code: ErrorCode::NotFound, .. }), "{unknown:?}");
    let session = launch(&mut client, "org.weft.hello").await;
    wait_ready(&mut client, session).await;
    let Reply::Error { code, message } =
        client.request(&Request::FocusSession { session }).await.unwrap()
    else {
        panic!("focused without a compositor")
    };
    assert_eq!(code, ErrorCode::InvalidState);
    assert!(message.contains("compositor-socket"), "{message}");
}

#[tokio::test]
async fn built_apps_an_app_that_is_never_ready_is_stopped_at_the_timeout() {
    let fixture = Fixture::start(&["test-never-ready"], 500);
    let mut client = fixture.client().await;
    let session = launch(&mut client, "org.weft.test.never-ready").await;
    let pid = pid_of(&client.request(&Request::QueryRunning).await.unwrap(), session);
    assert_eq!(stopped_reason(&mut client, session).await, "ready-timeout");
    assert!(gone(pid), "the runtime {pid} survived");
    assert!(
        !fixture.dir.path().join(format!("run/weft/sessions/{session}")).exists(),
        "session dir left behind"
    );
}

#[tokio::test]
async fn built_apps_terminate_and_kill_9_end_sessions_with_their_reason() {
    let fixture = Fixture::start(&["test-never-ready", "test-trap-at-start"], 60_000);
    let mut client = fixture.client().await;
    let session = launch(&mut client, "org.weft.test.never-ready").await;
    let pid = pid_of(&client.request(&Request::QueryRunning).await.unwrap(), session);
    assert_eq!(client.request(&Request::TerminateApp { session }).await.unwrap(), Reply::Ok);
    assert_eq!(stopped_reason(&mut client, session).await, "terminated");
    assert!(gone(pid));

    let session = launch(&mut client, "org.weft.test.never-ready").await;
    let pid = pid_of(&client.request(&Request::QueryRunning).await.unwrap(), session);
    kill_9(pid);
    assert_eq!(stopped_reason(&mut client, session).await, "killed by signal 9");

    let session = launch(&mut client, "org.weft.test.trap-at-start").await;
    assert_eq!(stopped_reason(&mut client, session).await, "exited 4 (app trapped)");
    let error = client.request(&Request::TerminateApp { session }).await.unwrap();
    assert!(matches!(error, Reply::Error { code: ErrorCode::InvalidState, .. }), "{error:?}");
}

#[tokio::test]
async fn built_apps_hostile_app_ids_launch_nothing() {
    let fixture = Fixture::start(&["hello"], 30_000);
    let mut client = fixture.client().await;
    let long = "a.".repeat(5_000) + "b";
    for hostile in [
        "../../tmp/evil",
        "/abs",
        "a/../b",
        "",
        long.as_str(),
        "org.weft.hello\0",
        "org.weft.missing",
    ] {
        let reply = client.request(&Request::LaunchApp { app_id: hostile.into() }).await.unwrap();
        let Reply::Error { code, message } = reply else {
            panic!("{hostile:?} was accepted: {reply:?}")
        };
        let expected = if hostile == "org.weft.missing" {
            ErrorCode::NotFound
        } else {
            ErrorCode::InvalidAppId
        };
        assert_eq!(code, expected, "{hostile:?}: {message}");
    }
    assert_eq!(
        client.request(&Request::QueryRunning).await.unwrap(),
        Reply::RunningApps { sessions: vec![] }
    );
}

/// A launch from the (writable) store checks every file against the signed
/// list, though it does not inspect the content again: an installed package
/// changed on disk, as an attacker with write access to the store would
/// change it, launches nothing and the refusal names what changed.
#[tokio::test]
async fn built_apps_a_store_entry_changed_after_install_launches_nothing() {
    let fixture = Fixture::start(&["hello", "notes"], 30_000);
    let store = fixture.dir.path().join("store");
    let hello = store.join("org.weft.hello");
    let original = |path: &str| fs::read(hello.join(path)).unwrap();
    let (component, manifest) = (original("app.wasm"), original("wapp.toml"));
    let widened = String::from_utf8(manifest.clone())
        .unwrap()
        .replace("capabilities = [", "capabilities = [\"fs:rw:xdg-documents\"");
    assert_ne!(widened.as_bytes(), manifest, "the manifest has a capabilities list");
    let attacks: [(&str, &[u8], &str); 3] = [
        // Another valid, signed app's component in its place.
        ("app.wasm", &fs::read(store.join("org.weft.notes/app.wasm")).unwrap(), "app.wasm"),
        ("wapp.toml", widened.as_bytes(), "wapp.toml"),
        ("ui/smuggled.js", b"fetch('/')", "ui/smuggled.js"),
    ];
    let mut client = fixture.client().await;
    for (path, bytes, named) in attacks {
        fs::write(hello.join(path), bytes).unwrap();
        let reply =
            client.request(&Request::LaunchApp { app_id: "org.weft.hello".into() }).await.unwrap();
        let Reply::Error { code, message } = reply else {
            panic!("launched with {path} changed: {reply:?}")
        };
        assert_eq!(code, ErrorCode::VerificationFailed, "{message}");
        assert!(message.contains(named), "{path}: {message}");
        // A runtime started while the files were checked is gone, and with
        // it everything its run had made (a session started for it says why
        // it stopped).
        let Reply::RunningApps { sessions } = client.request(&Request::QueryRunning).await.unwrap()
        else {
            panic!("no session list")
        };
        assert!(
            sessions.iter().all(|info| info.state == SessionState::Stopped && info.pid.is_none()),
            "{path}: {sessions:?}"
        );
        let sessions = fixture.dir.path().join("run/weft/sessions");
        let left: Vec<_> = fs::read_dir(&sessions)
            .map(|entries| entries.map(|entry| entry.unwrap().file_name()).collect())
            .unwrap_or_default();
        assert!(left.is_empty(), "{path}: session directories left: {left:?}");
        // Put back, the package launches again.
        match path {
            "app.wasm" => fs::write(hello.join(path), &component).unwrap(),
            "wapp.toml" => fs::write(hello.join(path), &manifest).unwrap(),
            _ => fs::remove_file(hello.join(path)).unwrap(),
        }
    }
    let session = launch(&mut client, "org.weft.hello").await;
    wait_ready(&mut client, session).await;
}

#[tokio::test]
async fn built_apps_with_a_mount_helper_apps_launch_only_from_their_image() {
    // The app is installed in the store, but with a mount helper configured
    // appd launches from the signed image the helper mounts, and this host's
    // system image store has none: the helper's refusal reaches the client.
    let helper = runtime_bin().with_file_name("weft-mount-helper");
    let fixture = Fixture::with(Options {
        apps: &["hello"],
        env: &[("WEFT_MOUNT_HELPER", helper.to_str().unwrap())],
        ..Options::default()
    });
    let mut client = fixture.client().await;
    let reply =
        client.request(&Request::LaunchApp { app_id: "org.weft.hello".into() }).await.unwrap();
    let Reply::Error { code, message } = reply else {
        panic!("launched from the store: {reply:?}")
    };
    assert_eq!(code, ErrorCode::VerificationFailed, "{message}");
    assert!(
        message.contains("mount of org.weft.hello's image failed")
            && message.contains("has no image in /var/lib/weft/images/org.weft.hello"),
        "{message}"
    );
    assert_eq!(
        client.request(&Request::QueryRunning).await.unwrap(),
        Reply::RunningApps { sessions: vec![] }
    );
}

#[tokio::test]
async fn built_apps_with_a_mount_service_apps_launch_only_from_their_image() {
    // The real mount service (`weft-mount-helper serve`, as weft-mount.socket
    // runs it) on a socket of its own: its refusal reaches the client.
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("mount.sock");
    let mut service = Command::new(runtime_bin().with_file_name("weft-mount-helper"))
        .args(["serve", "--listen", socket.to_str().unwrap()])
        .spawn()
        .unwrap();
    while !socket.exists() {
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    let fixture = Fixture::with(Options {
        apps: &["hello"],
        env: &[("WEFT_MOUNT_SOCKET", socket.to_str().unwrap())],
        ..Options::default()
    });
    let mut client = fixture.client().await;
    let reply =
        client.request(&Request::LaunchApp { app_id: "org.weft.hello".into() }).await.unwrap();
    service.kill().unwrap();
    service.wait().unwrap();
    let Reply::Error { code, message } = reply else {
        panic!("launched from the store: {reply:?}")
    };
    assert_eq!(code, ErrorCode::VerificationFailed, "{message}");
    assert_eq!(
        message,
        "mount of org.weft.hello's image failed: org.weft.hello has no image in /var/lib/weft/images/org.weft.hello"
    );
}

#[tokio::test]
async fn built_apps_a_mount_service_that_answers_nonsense_is_named_and_nothing_launches() {
    // A hand-made service: the daemon gives back its predecessor's mounts
    // first; then it reads the mount request and answers garbage, then
    // nothing at all.
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("mount.sock");
    let listener = std::os::unix::net::UnixListener::bind(&socket).unwrap();
    let answers = std::thread::spawn(move || {
        let exchanges = [
            ("release-all\n", "ok\n"),
            ("mount org.weft.hello\n", "mounted, trust me\n"),
            ("mount org.weft.hello\n", ""),
        ];
        for (expected, answer) in exchanges {
            let (mut stream, _) = listener.accept().unwrap();
            let mut request = String::new();
            std::io::BufRead::read_line(&mut std::io::BufReader::new(&stream), &mut request)
                .unwrap();
            assert_eq!(request, expected);
            std::io::Write::write_all(&mut stream, answer.as_bytes()).unwrap();
        }
    });
    let fixture = Fixture::with(Options {
        apps: &["hello"],
        env: &[("WEFT_MOUNT_SOCKET", socket.to_str().unwrap())],
        ..Options::default()
    });
    let mut client = fixture.client().await;
    for expected in ["answered \"mounted, trust me\", not `ok` or `error`", "answered \"\""] {
        let reply =
            client.request(&Request::LaunchApp { app_id: "org.weft.hello".into() }).await.unwrap();
        let Reply::Error { code, message } = reply else { panic!("launched: {reply:?}") };
        assert_eq!(code, ErrorCode::LaunchFailed, "{message}");
        assert!(message.contains(expected) && message.contains("mount.sock"), "{message}");
    }
    answers.join().unwrap();
    assert_eq!(
        client.request(&Request::QueryRunning).await.unwrap(),
        Reply::RunningApps { sessions: vec![] }
    );
}

#[tokio::test]
async fn built_apps_hostile_frames_get_errors_and_oversized_ones_close_the_connection() {
    let fixture = Fixture::start(&["hello"], 30_000);
    let mut client = fixture.client().await;
    client.send_raw(&[0, 0, 0, 2, 0xc1, 0xc1]).await.unwrap();
    assert!(matches!(
        client.next().await.unwrap(),
        FromAppd::Reply(Reply::Error { code: ErrorCode::BadRequest, .. })
    ));
    let unknown = rmp_serde::to_vec_named(&serde_json::json!({"type": "FORMAT_DISK"})).unwrap();
    client.send_raw(&(unknown.len() as u32).to_be_bytes()).await.unwrap();
    client.send_raw(&unknown).await.unwrap();
    assert!(matches!(
        client.next().await.unwrap(),
        FromAppd::Reply(Reply::Error { code: ErrorCode::BadRequest, .. })
    ));
    // Still in step: a real request works.
    assert!(matches!(
        client.request(&Request::QueryRunning).await.unwrap(),
        Reply::RunningApps { .. }
    ));
    client.send_raw(&u32::MAX.to_be_bytes()).await.unwrap();
    let FromAppd::Reply(Reply::Error { message, .. }) = client.next().await.unwrap() else {
        panic!("no error")
    };
    assert!(message.contains("larger than the limit"), "{message}");
    assert!(client.next().await.is_err(), "the connection must be closed");

    // A client that skips HELLO or speaks another version is refused.
    let stream = tokio::net::UnixStream::connect(fixture.socket()).await.unwrap();
    let (mut reader, mut writer) = stream.into_split();
    weft_protocol::appd::write_frame(&mut writer, &Request::QueryRunning).await.unwrap();
    let reply: Reply = weft_protocol::appd::read_frame(&mut reader).await.unwrap();
    assert!(matches!(reply, Reply::Error { code: ErrorCode::BadRequest, .. }), "{reply:?}");
    let stream = tokio::net::UnixStream::connect(fixture.socket()).await.unwrap();
    let (mut reader, mut writer) = stream.into_split();
    weft_protocol::appd::write_frame(&mut writer, &Request::Hello { versions: vec![99] })
        .await
        .unwrap();
    let reply: Reply = weft_protocol::appd::read_frame(&mut reader).await.unwrap();
    assert!(matches!(reply, Reply::Error { code: ErrorCode::UnsupportedVersion, .. }), "{reply:?}");
}

#[tokio::test]
async fn built_apps_no_session_outlives_a_killed_daemon() {
    let mut fixture = Fixture::start(&["test-never-ready"], 60_000);
    let mut client = fixture.client().await;
    let session = launch(&mut client, "org.weft.test.never-ready").await;
    let pid = pid_of(&client.request(&Request::QueryRunning).await.unwrap(), session);
    fixture.daemon.kill().unwrap();
    fixture.daemon.wait().unwrap();
    assert!(gone(pid), "runtime {pid} outlived its supervisor");
    // A new daemon on the same runtime directory numbers sessions from 1
    // again: what the killed one left there does not stand in its way.
    fixture.restart();
    let mut client = fixture.client().await;
    assert_eq!(launch(&mut client, "org.weft.test.never-ready").await, session);
}

#[test]
fn built_apps_the_socket_is_private_to_its_user() {
    let fixture = Fixture::start(&["hello"], 30_000);
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(fs::metadata(fixture.socket()).unwrap().permissions().mode() & 0o777, 0o600);
    use std::os::unix::process::CommandExt;
    let output = Command::new(workspace_bin("weftctl"))
        .arg("--socket")
        .arg(fixture.socket())
        .arg("ps")
        .uid(65534)
        .gid(65534)
        .output()
        .unwrap();
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("Permission denied"), "{output:?}");
    let output = Command::new(workspace_bin("weftctl"))
        .arg("--socket")
        .arg(fixture.socket())
        .arg("installed")
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&output.stdout).starts_with("org.weft.hello"), "{output:?}");
}

/// Opens the WebSocket with `origin` and `token` (either may be left out);
/// returns the connection or the HTTP status of the refusal.
async fn websocket(
    fixture: &Fixture,
    origin: Option<&str>,
    token: Option<&str>,
) -> Result<
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>,
    u16,
> {
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    let port = fs::read_to_string(fixture.dir.path().join("run/weft/appd.ws-port")).unwrap();
    let query = token.map(|token| format!("?token={token}")).unwrap_or_default();
    let mut request = format!("ws://127.0.0.1:{port}/{query}").into_client_request().unwrap();
    if let Some(origin) = origin {
        request.headers_mut().insert("origin", origin.parse().unwrap());
    }
    match tokio_tungstenite::connect_async(request).await {
        Ok((socket, _)) => Ok(socket),
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
            Err(response.status().as_u16())
        }
        Err(other) => panic!("unexpected WebSocket failure: {other}"),
    }
}

#[tokio::test]
async fn built_apps_the_websocket_wants_the_token_and_an_allowed_origin() {
    use futures_util::{SinkExt, StreamExt};
    use tokio_tungstenite::tungstenite::Message;
    let fixture = Fixture::start(&["hello"], 30_000);
    let token = fs::read_to_string(fixture.dir.path().join("run/weft/appd.token")).unwrap();
    use std::os::unix::fs::PermissionsExt;
    let mode =
        fs::metadata(fixture.dir.path().join("run/weft/appd.token")).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600);
    assert_eq!(token.len(), 64);

    let wrong = "0".repeat(64);
    for (origin, token, status) in [
        (Some("weft://system"), None, 401),
        (Some("weft://system"), Some(wrong.as_str()), 401),
        (Some("https://evil.example"), Some(token.as_str()), 403),
        (Some("http://127.0.0.1"), Some(token.as_str()), 403),
        (None, Some(token.as_str()), 403),
    ] {
        assert_eq!(
            websocket(&fixture, origin, token).await.err(),
            Some(status),
            "{origin:?} {token:?}"
        );
    }

    let mut socket = websocket(&fixture, Some("weft://system"), Some(&token)).await.unwrap();
    let mut exchange = async |request: serde_json::Value| -> serde_json::Value {
        socket.send(Message::text(request.to_string())).await.unwrap();
        loop {
            let Some(Ok(Message::Text(text))) = socket.next().await else {
                panic!("the WebSocket closed")
            };
            let reply: serde_json::Value = serde_json::from_str(&text).unwrap();
            // Events of the launched session may come before any answer.
            if !["APP_STATE", "APP_READY", "IPC_MESSAGE"]
                .contains(&reply["type"].as_str().unwrap_or(""))
            {
                return reply;
            }
        }
    };
    assert_eq!(
        exchange(serde_json::json!({"type": "HELLO", "versions": [1]})).await["type"],
        "WELCOME"
    );
    let launched =
        exchange(serde_json::json!({"type": "LAUNCH_APP", "app_id": "org.weft.hello"})).await;
    assert_eq!(launched["type"], "LAUNCH_ACK", "{launched}");
    let garbage = exchange(serde_json::json!({"type": "REBOOT"})).await;
    assert_eq!(garbage["code"], "bad-request", "{garbage}");

    // Refused clients launched nothing: only the one session exists.
    let mut client = fixture.client().await;
    let Reply::RunningApps { sessions } = client.request(&Request::QueryRunning).await.unwrap()
    else {
        panic!()
    };
    assert_eq!(sessions.len(), 1);
}

#[tokio::test]
async fn built_apps_file_access_goes_through_the_session_portal() {
    let fixture = Fixture::start(&["notes"], 30_000);
    let mut client = fixture.client().await;
    let session = launch(&mut client, "org.weft.notes").await;
    wait_ready(&mut client, session).await;
    let session_dir = fixture.dir.path().join(format!("run/weft/sessions/{session}"));
    let portal_processes = started_portals_of(&fixture, "org.weft.notes");
    assert!(session_dir.join("portal.sock").exists(), "no portal socket");
    assert_eq!(portal_processes.len(), 1, "exactly one portal for the session");

    let answer = say(&mut client, session, "save todo buy milk").await;
    assert_eq!(answer, "saved todo");
    let saved = fixture.dir.path().join(".local/share/weft/app-data/org.weft.notes/todo");
    assert_eq!(fs::read_to_string(saved).unwrap(), "buy milk");

    assert_eq!(client.request(&Request::TerminateApp { session }).await.unwrap(), Reply::Ok);
    assert_eq!(stopped_reason(&mut client, session).await, "terminated");
    for pid in portal_processes {
        assert!(gone(pid), "the portal {pid} outlived its session");
    }
}

#[tokio::test]
async fn built_apps_a_vanishing_ui_client_or_portal_harms_no_session() {
    let fixture = Fixture::start(&["notes"], 30_000);
    let mut first = fixture.client().await;
    let session = launch(&mut first, "org.weft.notes").await;
    wait_ready(&mut first, session).await;
    drop(first);

    // The portal dies mid-session: the runtime already holds its directories.
    let portals = started_portals_of(&fixture, "org.weft.notes");
    assert_eq!(portals.len(), 1);
    for pid in portals {
        kill_9(pid);
        assert!(gone(pid));
    }

    let mut second = fixture.client().await;
    let state = second.request(&Request::QueryAppState { session }).await.unwrap();
    assert!(matches!(state, Reply::SessionState { state: SessionState::Running, .. }), "{state:?}");
    assert_eq!(say(&mut second, session, "save after a b").await, "saved after");
    assert_eq!(second.request(&Request::TerminateApp { session }).await.unwrap(), Reply::Ok);
    assert_eq!(stopped_reason(&mut second, session).await, "terminated");
}
