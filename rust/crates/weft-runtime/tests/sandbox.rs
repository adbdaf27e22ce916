//! The runtime process is sandboxed before guest code runs: no new privileges,
//! a seccomp filter, and no path opens by name.

mod common;

use std::fs;
use std::time::Duration;

use common::{Launch, built_package};

/// The value of `field` in /proc/<pid>/status.
fn status_field(pid: u32, field: &str) -> String {
    let status = fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|line| line.strip_prefix(&format!("{field}:")))
        .unwrap_or_else(|| panic!("no {field} in the status of {pid}"))
        .trim()
        .to_owned()
}

#[test]
fn built_apps_a_running_session_has_no_new_privs_and_a_seccomp_filter() {
    let mut launch = Launch::new(built_package("test-never-ready"));
    launch.extra_args = vec!["--sandbox-probe".into(), "/etc/passwd".into()];
    let mut app = launch.start();
    // The app waits on IPC forever; give setup a moment to finish.
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while !app.stderr().contains("sandbox probe") && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    let pid = app.child.id();
    assert_eq!(status_field(pid, "NoNewPrivs"), "1");
    assert_eq!(status_field(pid, "Seccomp"), "2", "2 means a seccomp filter is installed");
    let stderr = app.stderr();
    assert!(stderr.contains("sandbox entered"), "{stderr}");
    assert!(stderr.contains("sandbox probe: opening /etc/passwd was refused"), "{stderr}");
    app.close_session();
    assert_eq!(app.exit_code(), 0);
}

#[test]
fn built_apps_a_granted_directory_stays_reachable_but_nothing_beside_it() {
    let data = tempfile::tempdir().unwrap();
    fs::write(data.path().join("note"), "x").unwrap();
    let mut launch = Launch::new(built_package("test-path-escape"));
    launch.app_data = Some(fs::File::open(data.path()).unwrap());
    // A sibling of the granted directory, opened by name from the runtime itself.
    let sibling = tempfile::tempdir().unwrap();
    fs::write(sibling.path().join("secret"), "s").unwrap();
    launch.extra_args =
        vec!["--sandbox-probe".into(), sibling.path().join("secret").display().to_string()];
    let mut app = launch.start();
    app.expect_ready();
    loop {
        if app.recv_ipc() == "done" {
            break;
        }
    }
    assert_eq!(app.exit_code(), 0);
    assert!(app.stderr().contains("was refused: Permission denied"), "{}", app.stderr());
}
