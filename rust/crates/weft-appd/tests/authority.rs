//! Every connection holds exactly its own authority. An app shell started by
//! weft-appd is written here as an attacker would write it
//! (`hostile_shell.py`: hand-made MessagePack, real sockets): on its session
//! channel it may exchange its own session's IPC and nothing else, it sees no
//! other session's events, and the operator socket, which it can find by path,
//! refuses it. Run twice: with session cgroups (weft-appd in its own delegated
//! cgroup, as on a WEFT system) and without (processes told apart by their
//! ancestry).

mod common;

use std::collections::HashMap;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::time::{Duration, Instant};

use common::*;
use serde_json::Value;
use weft_protocol::appd::{Event, Reply, Request};

/// A shell script that runs the hostile shell with weft-appd's arguments.
fn hostile_shell(dir: &Path) -> std::path::PathBuf {
    let shell = dir.join("app-shell");
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/hostile_shell.py");
    fs::write(&shell, format!("#!/bin/sh\nexec python3 '{script}' \"$@\"\n")).unwrap();
    fs::set_permissions(&shell, fs::Permissions::from_mode(0o755)).unwrap();
    shell
}

/// The attempts the hostile shell of `session` reported, by door and request.
fn report(path: &Path) -> HashMap<String, Value> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let text = fs::read_to_string(path).unwrap_or_default();
        if text.contains("\"door\": \"done\"") {
            return text
                .lines()
                .map(|line| {
                    let entry: Value = serde_json::from_str(line).unwrap();
                    let request = &entry["request"];
                    let mut key =
                        format!("{} {}", entry["door"].as_str().unwrap(), request["type"]);
                    if let Some(session) = request.get("session") {
                        key.push_str(&format!(" {session}"));
                    }
                    (key, entry["answer"].clone())
                })
                .collect();
        }
        assert!(Instant::now() < deadline, "the hostile shell reported only:\n{text}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

async fn a_hostile_shell_holds_only_its_own_sessions_authority(own_cgroup: bool) {
    let scratch = tempfile::tempdir().unwrap();
    let shell = hostile_shell(scratch.path());
    let reports = scratch.path().join("report");
    let fixture = Fixture::with(Options {
        apps: &["clock", "hello"],
        env: &[
            ("WEFT_APP_SHELL_BIN", shell.to_str().unwrap()),
            ("HOSTILE_REPORT", reports.to_str().unwrap()),
            ("HOSTILE_OTHER_SESSION", "1"),
        ],
        own_cgroup,
        ..Options::default()
    });
    let mut client = fixture.client().await;
    let clock = launch(&mut client, "org.weft.clock").await;
    wait_ready(&mut client, clock).await;
    let hello = launch(&mut client, "org.weft.hello").await;
    assert_eq!((clock, hello), (1, 2));
    wait_ready(&mut client, hello).await;

    let attempts = report(&scratch.path().join(format!("report.{hello}")));
    let answer = |key: &str| attempts.get(key).unwrap_or_else(|| panic!("no {key}: {attempts:?}"));
    // Its own session: the channel works.
    assert_eq!(answer("channel \"HELLO\""), "WELCOME");
    assert_eq!(answer("channel \"ATTACH_UI\" 2"), "UI_ATTACHED");
    assert_eq!(answer("channel \"IPC_FORWARD\" 2"), "OK");
    assert_eq!(answer("channel \"QUERY_APP_STATE\" 2"), "SESSION_STATE");
    // Everything else is refused by name.
    let refused: Vec<&String> = attempts
        .keys()
        .filter(|key| {
            key.starts_with("channel ")
                && !key.ends_with("HELLO\"")
                && !key.contains("(listening)")
                && !["ATTACH_UI\" 2", "IPC_FORWARD\" 2", "QUERY_APP_STATE\" 2"]
                    .iter()
                    .any(|own| key.ends_with(own))
        })
        .collect();
    assert_eq!(refused.len(), 12, "{attempts:?}");
    for key in refused {
        assert_eq!(answer(key), "forbidden", "{key}");
    }
    // No event of another session reached it, though the clock ticks.
    assert_eq!(answer("channel \"(listening)\""), &Value::Array(vec![]));
    // The operator socket let it in for nothing.
    let operator = answer("operator \"HELLO\"");
    assert!(
        operator == "closed" || operator.as_str().is_some_and(|text| text.starts_with("error:")),
        "{operator}"
    );
    assert!(attempts.get("operator \"QUERY_RUNNING\"").is_none_or(|answer| answer == "closed"));

    // Nothing of the attack took effect: both sessions run, the clock was
    // neither terminated nor reconfigured, and the operator still drives both.
    let Reply::RunningApps { sessions } = client.request(&Request::QueryRunning).await.unwrap()
    else {
        panic!("no running list")
    };
    assert_eq!(sessions.len(), 2, "{sessions:?}");
    assert!(sessions.iter().all(|info| info.reason.is_none()), "{sessions:?}");
    let tick = expect_event(&mut client, |event| match event {
        Event::IpcMessage { session, message, .. }
            if *session == clock && message.starts_with("time ") =>
        {
            Some(message.clone())
        }
        _ => None,
    })
    .await;
    assert!(tick.starts_with("time "), "{tick}");
}

#[tokio::test]
async fn built_apps_a_hostile_shell_holds_only_its_own_sessions_authority() {
    a_hostile_shell_holds_only_its_own_sessions_authority(false).await;
}

#[tokio::test]
async fn built_apps_a_hostile_shell_in_a_session_cgroup_holds_only_its_own_authority() {
    a_hostile_shell_holds_only_its_own_sessions_authority(true).await;
}
