//! A spare runtime (`--spare`) takes exactly one app, handed over on its
//! standard input, and refuses a hand-over that is not one. The supervisor
//! here is hand-made: raw `sendmsg` on a `SOCK_SEQPACKET` pair.

mod common;

use std::io::{BufRead, BufReader, Read};
use std::os::fd::{AsFd, OwnedFd};
use std::path::Path;
use std::process::{Child, Command, Stdio};

use common::{Launch, built_package, send, shared_aot_dir, spare_of, wait_until_waiting};
use rustix::net::{AddressFamily, SocketFlags, SocketType, socketpair};
use weft_protocol::runtime::Handover;

const USAGE: i32 = 2;

/// A spare runtime and the supervisor's end of its hand-over socket.
fn spare() -> (Child, OwnedFd) {
    spare_of(Command::new(env!("CARGO_BIN_EXE_weft-runtime")).arg("--spare"))
}

/// A spare runtime given the store `aot_dir` to warm up from, logging at
/// debug level, and the supervisor's end of its hand-over socket.
fn warming_spare(aot_dir: &Path) -> (Child, OwnedFd) {
    spare_of(
        Command::new(env!("CARGO_BIN_EXE_weft-runtime"))
            .arg("--spare")
            .arg(aot_dir)
            .env("RUST_LOG", "weft_runtime=debug"),
    )
}

/// A hand-over of hello with `aot_dir` as its artifact store.
fn handover_of_hello(aot_dir: &Path) -> Vec<u8> {
    let handover = Handover {
        args: vec![
            "--package".into(),
            built_package("hello").display().to_string(),
            "--aot-dir".into(),
            aot_dir.display().to_string(),
        ],
        descriptor_options: Vec::new(),
    };
    serde_json::to_vec(&handover).unwrap()
}

/// A hand-over of hello, its artifact stored first: a spare runs under its
/// system-call filter and cannot run the installer, so a cold start compiles.
fn hello_handover() -> Vec<u8> {
    let mut cold = Launch::new(built_package("hello"));
    cold.session = false;
    let mut app = cold.start();
    app.expect_ready();
    assert_eq!(app.exit_code(), 0, "{}", app.stderr());
    handover_of_hello(&shared_aot_dir())
}

fn stderr_of(child: &mut Child) -> String {
    let mut text = String::new();
    child.stderr.take().unwrap().read_to_string(&mut text).unwrap();
    text
}

#[test]
fn built_apps_a_spare_runs_the_one_app_it_is_handed_and_takes_no_second() {
    let (mut child, socket) = spare();
    // Two hand-overs back to back, the second for another app: only the first
    // may ever run.
    assert!(send(&socket, &hello_handover(), &[]));
    let mut second = Handover { args: Vec::new(), descriptor_options: Vec::new() };
    second.args = vec!["--package".into(), built_package("clock").display().to_string()];
    let _ = send(&socket, &serde_json::to_vec(&second).unwrap(), &[]);

    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
    assert_eq!(line.trim(), "READY");
    // The socket is shut: a third hand-over cannot even be sent.
    assert!(
        !send(&socket, &hello_handover(), &[]),
        "a spare that runs an app still takes hand-overs"
    );
    let status = child.wait().unwrap();
    let stderr = stderr_of(&mut child);
    assert_eq!(status.code(), Some(0), "{stderr}");
    assert!(stderr.contains("org.weft.hello"), "{stderr}");
    assert!(!stderr.contains("org.weft.clock"), "the second hand-over ran: {stderr}");
}

/// A spare given the artifact store loads the store's warm-up artifact while
/// it waits, and drops it; then it runs the app it is handed. A warm-up
/// artifact that does not match its recorded SHA-256 is refused unloaded (the
/// spare says so, and still runs its app), as an app's artifact would be.
#[test]
fn built_apps_a_spare_warms_up_only_with_a_checked_warm_up_artifact() {
    let aot = tempfile::tempdir().unwrap();
    let store = weft_aot::ArtifactStore::new(aot.path());
    let engine = weft_aot::engine().unwrap();
    let hello = std::fs::read(built_package("hello").join("app.wasm")).unwrap();
    store.precompile(&engine, &hello).unwrap();
    let warm_up = store.artifact_path(weft_aot::WARM_UP_COMPONENT_SHA256);
    assert!(warm_up.exists(), "the store got no warm-up artifact with its first one");

    for (tampered, said) in
        [(false, "loaded the warm-up artifact"), (true, "no warm-up: stored artifact rejected")]
    {
        if tampered {
            // What an attacker with write access to the store would leave:
            // other machine code under the warm-up's name.
            let mut bytes = std::fs::read(&warm_up).unwrap();
            let last = bytes.len() - 1;
            bytes[last] ^= 0xff;
            std::fs::remove_file(&warm_up).unwrap();
            std::fs::write(&warm_up, bytes).unwrap();
        }
        let (mut child, socket) = warming_spare(aot.path());
        wait_until_waiting(&child);
        assert!(send(&socket, &handover_of_hello(aot.path()), &[]));
        let (line, status, stderr) = ready_line_status_and_stderr(&mut child);
        assert_eq!((line.trim(), status.code()), ("READY", Some(0)), "{stderr}");
        assert!(stderr.contains(said), "expected {said:?} in: {stderr}");
    }

    // A launch that came while the spare started does not wait for a warm-up.
    std::fs::remove_file(&warm_up).unwrap();
    store.precompile(&engine, &hello).unwrap();
    let (mut child, socket) = warming_spare(aot.path());
    assert!(send(&socket, &handover_of_hello(aot.path()), &[]));
    let (line, _, stderr) = ready_line_status_and_stderr(&mut child);
    assert_eq!(line.trim(), "READY", "{stderr}");
    assert!(stderr.contains("no warm-up: a hand-over is waiting"), "{stderr}");
}

/// The first line `child` writes on stdout, then how it ended and its stderr.
fn ready_line_status_and_stderr(child: &mut Child) -> (String, std::process::ExitStatus, String) {
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
    let status = child.wait().unwrap();
    (line, status, stderr_of(child))
}

/// A spare has entered its system-call filter before the hand-over, so it
/// cannot run the installer: handed an app without a stored artifact, it
/// refuses, saying why, and compiles nothing (weft-appd starts such a launch
/// cold instead).
#[test]
fn built_apps_a_spare_without_the_apps_artifact_refuses_and_compiles_nothing() {
    let aot = tempfile::tempdir().unwrap();
    let (mut child, socket) = spare();
    assert!(send(&socket, &handover_of_hello(aot.path()), &[]));
    let status = child.wait().unwrap();
    let stderr = stderr_of(&mut child);
    assert!(!status.success(), "{stderr}");
    assert!(stderr.contains("cannot run the installer"), "{stderr}");
    assert_eq!(std::fs::read_dir(aot.path()).unwrap().count(), 0, "{stderr}");
}

#[test]
fn a_spare_refuses_a_handover_that_is_not_one() {
    let null = std::fs::File::open("/dev/null").unwrap();
    let smuggled = Handover {
        args: vec!["--package".into(), "/nonexistent".into(), "--app-data-fd".into(), "0".into()],
        descriptor_options: Vec::new(),
    };
    let unsent = Handover {
        args: vec!["--package".into(), "/nonexistent".into()],
        descriptor_options: vec!["--app-data-fd".into()],
    };
    let wrong_option = Handover {
        args: vec!["--package".into(), "/nonexistent".into()],
        descriptor_options: vec!["--policy".into()],
    };
    let cases: [(&[u8], Vec<std::os::fd::BorrowedFd<'_>>, &str); 5] = [
        (b"{\"args\": 7}", vec![], "not a valid Handover message"),
        (&serde_json::to_vec(&smuggled).unwrap(), vec![], "may not carry --app-data-fd"),
        (&serde_json::to_vec(&unsent).unwrap(), vec![], "names 1 descriptor options but carries 0"),
        (
            &serde_json::to_vec(&wrong_option).unwrap(),
            vec![null.as_fd()],
            "\"--policy\", which takes none",
        ),
        (&[], vec![], "closed the hand-over socket"),
    ];
    for (message, descriptors, said) in cases {
        let (mut child, socket) = spare();
        if message.is_empty() {
            drop(socket);
        } else {
            assert!(send(&socket, message, &descriptors));
        }
        let status = child.wait().unwrap();
        let stderr = stderr_of(&mut child);
        assert_eq!(status.code(), Some(USAGE), "{said}: {stderr}");
        assert!(stderr.contains(said), "expected {said:?} in: {stderr}");
    }
}

/// The supervisor names itself (`WEFT_SUPERVISOR_PID`) so that a runtime it
/// spawned without a fork sets its own parent-death signal: a runtime whose
/// named supervisor is not its parent (it died before the signal was set)
/// refuses to start, as does a name that is no process id.
#[test]
fn a_runtime_whose_supervisor_is_gone_refuses_to_start() {
    for (named, said) in [
        ("1", "its supervisor (process 1) is gone: its parent is process"),
        ("me", "WEFT_SUPERVISOR_PID is not a process id: \"me\""),
    ] {
        let output = Command::new(env!("CARGO_BIN_EXE_weft-runtime"))
            .arg("--spare")
            .env(weft_protocol::runtime::SUPERVISOR_PID_ENV, named)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(1), "{stderr}");
        assert!(stderr.contains(said), "{stderr}");
    }
    // Named by its parent, it starts (and waits for its hand-over).
    let (ours, theirs) =
        socketpair(AddressFamily::UNIX, SocketType::SEQPACKET, SocketFlags::CLOEXEC, None).unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_weft-runtime"))
        .arg("--spare")
        .env(weft_protocol::runtime::SUPERVISOR_PID_ENV, std::process::id().to_string())
        .stdin(Stdio::from(theirs))
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    drop(ours);
    child.wait().unwrap();
    let stderr = stderr_of(&mut child);
    assert!(stderr.contains("closed the hand-over socket"), "{stderr}");
}
