//! The `weftctl` binary on its own: without a daemon it names the socket it
//! could not reach, and it prints completion scripts. (Against a daemon it is
//! driven by weft-appd's tests, which find it beside their own build.)

use std::process::Command;

#[test]
fn without_a_daemon_it_names_the_socket() {
    let run = tempfile::tempdir().unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_weftctl"))
        .arg("ps")
        .env("XDG_RUNTIME_DIR", run.path())
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    let socket = run.path().join("weft/appd.sock");
    assert!(stderr.contains(&socket.display().to_string()), "{stderr}");
}

#[test]
fn it_prints_completions() {
    let output =
        Command::new(env!("CARGO_BIN_EXE_weftctl")).args(["completions", "bash"]).output().unwrap();
    assert!(output.status.success());
    let script = String::from_utf8_lossy(&output.stdout);
    assert!(script.contains("allow-downgrade") && script.contains("weftctl"), "{script:.200}");
}
