//! `weft-mount-helper serve` on a real socket, driven by hand-made clients
//! as an attacker in the `weft` group would: garbage, oversized and
//! unterminated requests, hostile ids and a client that never speaks are
//! each answered or dropped while the service keeps serving. (Mapping and
//! mounting run in the VM: this host has no device-mapper.)

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use weft_mount_helper::service::{MAX_REQUEST, REQUEST_TIMEOUT};

/// The service listening on a socket of its own, killed when dropped.
struct Service {
    child: Child,
    socket: PathBuf,
    _dir: tempfile::TempDir,
}

impl Service {
    fn start() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let socket = dir.path().join("mount.sock");
        let child = Command::new(env!("CARGO_BIN_EXE_weft-mount-helper"))
            .args(["serve", "--listen", socket.to_str().unwrap()])
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(10);
        while !socket.exists() {
            assert!(Instant::now() < deadline, "the service made no socket");
            std::thread::sleep(Duration::from_millis(10));
        }
        Self { child, socket, _dir: dir }
    }

    /// Sends `request` as it is and reads the whole answer.
    fn ask(&self, request: &[u8]) -> String {
        ask(&self.socket, request)
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn ask(socket: &Path, request: &[u8]) -> String {
    let mut stream = UnixStream::connect(socket).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    // The service may answer and close before reading all of an oversized
    // request: a failed write is part of being refused.
    let _ = stream.write_all(request);
    let _ = stream.shutdown(std::net::Shutdown::Write);
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    answer
}

#[test]
fn malformed_requests_are_refused_by_name_and_the_service_goes_on() {
    let service = Service::start();
    let cases: [(&[u8], &str); 6] = [
        (b"format org.weft.hello\n", "unknown request \"format org.weft.hello\""),
        (b"mount\n", "unknown request \"mount\""),
        (b"mount org.weft.hello", "the request ended before its newline"),
        (b"mount \xff\xfe\n", "the request is not UTF-8"),
        (b"", "the request ended before its newline"),
        (&[b'm'; 4 * MAX_REQUEST], "the request is not a line of at most 256 bytes"),
    ];
    for (request, expected) in cases {
        let answer = service.ask(request);
        let shown = String::from_utf8_lossy(request);
        assert!(answer.starts_with(&format!("error {expected}")), "{shown:?}: {answer:?}");
        assert!(
            answer.ends_with('\n') && answer.matches('\n').count() == 1,
            "{shown:?}: {answer:?}"
        );
    }
}

#[test]
fn hostile_ids_are_refused_before_anything_is_touched() {
    let service = Service::start();
    for hostile in ["../../tmp/evil", "/abs", "a/../b", "org.weft.hello/x", "org.weft.hello extra"]
    {
        for action in ["mount", "unmount"] {
            let answer = service.ask(format!("{action} {hostile}\n").as_bytes());
            assert!(
                answer.starts_with("error ") && answer.contains("is not an app id"),
                "{hostile}: {answer}"
            );
            assert_eq!(answer.matches('\n').count(), 1, "{answer:?}");
        }
    }
}

#[test]
fn a_real_request_gets_the_helpers_answer() {
    // This host's image store has no hello: the same refusal `mount` gives.
    let service = Service::start();
    let answer = service.ask(b"mount org.weft.hello\n");
    assert_eq!(
        answer,
        "error org.weft.hello has no image in /var/lib/weft/images/org.weft.hello\n"
    );
}

#[test]
fn a_client_that_never_speaks_is_dropped_and_others_are_served() {
    let service = Service::start();
    let mut silent = UnixStream::connect(&service.socket).unwrap();
    let started = Instant::now();
    let answer = service.ask(b"mount ../x\n");
    let waited = started.elapsed();
    assert!(answer.contains("is not an app id"), "{answer}");
    assert!(
        waited >= REQUEST_TIMEOUT - Duration::from_millis(500),
        "served before the timeout: {waited:?}"
    );
    assert!(waited < REQUEST_TIMEOUT * 3, "the silent client held the service for {waited:?}");
    // The silent client was answered with the refusal and closed.
    let mut rest = String::new();
    silent.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    silent.read_to_string(&mut rest).unwrap();
    assert_eq!(rest, "error no whole request line within 5 s\n");
}

#[test]
fn without_a_socket_from_systemd_serve_says_how_to_run_it() {
    let output = Command::new(env!("CARGO_BIN_EXE_weft-mount-helper"))
        .arg("serve")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("standard input is not a listening socket")
            && stderr.contains("weft-mount.socket, or give --listen"),
        "{stderr}"
    );
}

/// Set in the copy of this test run as another user: the socket to ask.
const AS_OTHER_USER: &str = "WEFT_MOUNT_TEST_SOCKET";

#[test]
fn a_user_cannot_unmount_what_it_did_not_mount() {
    if let Some(socket) = std::env::var_os(AS_OTHER_USER) {
        print!("{}", ask(Path::new(&socket), b"unmount org.weft.hello\n"));
        return;
    }
    let service = Service::start();
    let open = |path: &Path, mode| {
        std::fs::set_permissions(path, std::os::unix::fs::PermissionsExt::from_mode(mode)).unwrap();
    };
    open(service.socket.parent().unwrap(), 0o755);
    open(&service.socket, 0o666);
    // The attacker: a user of the `weft` group that holds no mount of hello
    // (`nobody` when the tests run as root, else the tests' own user).
    let mut attacker = Command::new(std::env::current_exe().unwrap());
    attacker
        .args(["a_user_cannot_unmount_what_it_did_not_mount", "--exact", "--nocapture"])
        .env(AS_OTHER_USER, &service.socket);
    let uid = if rustix::process::getuid().is_root() {
        std::os::unix::process::CommandExt::uid(&mut attacker, 65534);
        std::os::unix::process::CommandExt::gid(&mut attacker, 65534);
        65534
    } else {
        rustix::process::getuid().as_raw()
    };
    let output = attacker.output().unwrap();
    let said = String::from_utf8_lossy(&output.stdout);
    let refusal = format!(
        "error org.weft.hello is not mounted for uid {uid}: only its holders may unmount it\n"
    );
    assert!(said.contains(&refusal), "{refusal:?} not in {said:?}");
    if rustix::process::getuid().is_root() {
        // Root may unmount any app (here: nothing is mounted, nothing to do).
        assert_eq!(service.ask(b"unmount org.weft.hello\n"), "ok\n");
    }
}
