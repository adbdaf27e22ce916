//! A real supervisor end for runtime tests: a Unix socket the runtime connects
//! to, the runtime as a child process, its stdout (READY) and stderr captured.

#![allow(dead_code, reason = "each test binary uses a different part of this module")]

use std::fs;
use std::io::{BufRead, BufReader};
use std::os::fd::AsRawFd;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc::{Receiver, channel};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use weft_protocol::session::{FromApp, ToApp, read_message, write_message};
pub use weft_testkit::built_package;

/// A copy of a built package in `dir` with its manifest's capability list and
/// limits replaced by `capabilities` and `limits` (TOML fragments).
pub fn package_with(app: &str, dir: &Path, capabilities: &str) -> PathBuf {
    let from = built_package(app);
    weft_testkit::copy_tree(&from, dir);
    let manifest = fs::read_to_string(dir.join("wapp.toml")).unwrap();
    let replaced: Vec<String> = manifest
        .lines()
        .map(|line| {
            if line.starts_with("capabilities") {
                format!("capabilities = [{capabilities}]")
            } else {
                line.to_owned()
            }
        })
        .collect();
    fs::write(dir.join("wapp.toml"), replaced.join("\n")).unwrap();
    dir.to_owned()
}

/// The artifact store shared by the tests of one run (compiling in a debug
/// build takes a while; artifacts are written atomically, so sharing is safe).
pub fn shared_aot_dir() -> PathBuf {
    let dir =
        std::env::temp_dir().join(format!("weft-runtime-tests-aot-{}", env!("CARGO_PKG_VERSION")));
    fs::create_dir_all(&dir).unwrap();
    dir
}

/// How to start the runtime.
pub struct Launch {
    pub package: PathBuf,
    pub aot_dir: PathBuf,
    pub policy: Option<String>,
    pub app_data: Option<fs::File>,
    pub documents: Option<fs::File>,
    /// An artifact handed over open (`--artifact-fd`), as weft-appd does.
    pub artifact: Option<fs::File>,
    /// The read end of the pipe on which weft-appd confirms that the
    /// package's files are the signed ones (`--verified-fd`).
    pub verified: Option<fs::File>,
    pub session: bool,
    pub extra_args: Vec<String>,
}

impl Launch {
    pub fn new(package: PathBuf) -> Self {
        Self {
            package,
            aot_dir: shared_aot_dir(),
            policy: None,
            app_data: None,
            documents: None,
            artifact: None,
            verified: None,
            session: true,
            extra_args: Vec::new(),
        }
    }

    /// Starts the runtime; returns once it connected to the session socket
    /// (or exited without connecting).
    pub fn start(self) -> RunningApp {
        let scratch = tempfile::tempdir().unwrap();
        let socket = scratch.path().join("session.sock");
        let listener = UnixListener::bind(&socket).unwrap();
        listener.set_nonblocking(true).unwrap();
        let mut command = Command::new(env!("CARGO_BIN_EXE_weft-runtime"));
        command
            .arg("--package")
            .arg(&self.package)
            .arg("--aot-dir")
            .arg(&self.aot_dir)
            .args(&self.extra_args)
            .env("RUST_LOG", "weft_runtime=debug,weft_aot=debug")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        if self.session {
            command.arg("--session-socket").arg(&socket);
        }
        if let Some(policy) = &self.policy {
            let path = scratch.path().join("policy.toml");
            fs::write(&path, policy).unwrap();
            command.arg("--policy").arg(path);
        }
        for (flag, dir) in [
            ("--app-data-fd", &self.app_data),
            ("--documents-fd", &self.documents),
            ("--artifact-fd", &self.artifact),
            ("--verified-fd", &self.verified),
        ] {
            if let Some(dir) = dir {
                // Let the child inherit this descriptor.
                rustix::io::fcntl_setfd(dir, rustix::io::FdFlags::empty()).unwrap();
                command.arg(flag).arg(dir.as_raw_fd().to_string());
            }
        }
        let mut child = command.spawn().unwrap();
        let stdout_lines = lines_of(child.stdout.take().unwrap());
        let stderr = Arc::new(Mutex::new(String::new()));
        let sink = Arc::clone(&stderr);
        let stderr_pipe = child.stderr.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr_pipe).lines().map_while(Result::ok) {
                let mut text = sink.lock().unwrap();
                text.push_str(&line);
                text.push('\n');
            }
        });
        let mut running = RunningApp {
            child,
            stdout_lines,
            stderr,
            session: None,
            reader: None,
            _scratch: scratch,
        };
        if self.session {
            let deadline = Instant::now() + Duration::from_secs(60);
            while Instant::now() < deadline {
                match listener.accept() {
                    Ok((stream, _)) => {
                        stream.set_nonblocking(false).unwrap();
                        running.reader = Some(BufReader::new(stream.try_clone().unwrap()));
                        running.session = Some(stream);
                        break;
                    }
                    Err(_) if running.child.try_wait().unwrap().is_some() => break,
                    Err(_) => std::thread::sleep(Duration::from_millis(2)),
                }
            }
        }
        running
    }
}

fn lines_of(pipe: impl std::io::Read + Send + 'static) -> Receiver<String> {
    let (sender, receiver) = channel();
    std::thread::spawn(move || {
        for line in BufReader::new(pipe).lines().map_while(Result::ok) {
            if sender.send(line).is_err() {
                return;
            }
        }
    });
    receiver
}

/// A runtime process and the supervisor's end of its session.
pub struct RunningApp {
    pub child: Child,
    stdout_lines: Receiver<String>,
    stderr: Arc<Mutex<String>>,
    session: Option<UnixStream>,
    reader: Option<BufReader<UnixStream>>,
    _scratch: tempfile::TempDir,
}

impl RunningApp {
    /// Waits for the next stdout line; `Some("READY")` once the app is ready.
    pub fn next_stdout_line(&self, timeout: Duration) -> Option<String> {
        self.stdout_lines.recv_timeout(timeout).ok()
    }

    /// Waits for READY.
    pub fn expect_ready(&self) {
        let line = self.next_stdout_line(Duration::from_secs(60));
        assert_eq!(line.as_deref(), Some("READY"), "stderr:\n{}", self.stderr());
    }

    /// Sends a message as the supervisor.
    pub fn send(&self, message: &ToApp) {
        let mut stream = self.session.as_ref().expect("no session");
        write_message(&mut stream, message).unwrap();
    }

    /// Sends an IPC message from "the UI".
    pub fn send_ipc(&self, message: &str) {
        self.send(&ToApp::Ipc { message: message.to_owned() });
    }

    /// The next message from the runtime, if one comes in time.
    pub fn recv(&mut self, timeout: Duration) -> Option<FromApp> {
        let reader = self.reader.as_mut().expect("no session");
        reader.get_ref().set_read_timeout(Some(timeout)).unwrap();
        read_message(reader).ok()
    }

    /// The next IPC message text, failing the test on anything else.
    pub fn recv_ipc(&mut self) -> String {
        match self.recv(Duration::from_secs(30)) {
            Some(FromApp::Ipc { message }) => message,
            other => panic!("expected an IPC message, got {other:?}; stderr:\n{}", self.stderr()),
        }
    }

    /// Closes the supervisor's end of the session.
    pub fn close_session(&mut self) {
        self.session = None;
        self.reader = None;
    }

    /// Waits for the process to end.
    pub fn wait(&mut self, timeout: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if let Some(status) = self.child.try_wait().unwrap() {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        None
    }

    /// Waits for the exit status code, failing the test if it takes too long.
    pub fn exit_code(&mut self) -> i32 {
        let status = self.wait(Duration::from_secs(60)).unwrap_or_else(|| {
            let _ = self.child.kill();
            panic!("the runtime did not exit; stderr:\n{}", self.stderr())
        });
        // Give the stderr reader a moment to drain.
        std::thread::sleep(Duration::from_millis(20));
        status
            .code()
            .unwrap_or_else(|| panic!("killed by a signal: {status:?}; stderr:\n{}", self.stderr()))
    }

    /// Everything the runtime wrote to stderr so far.
    pub fn stderr(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }
}

impl Drop for RunningApp {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A spare runtime started by `command` (`--spare` given) and the supervisor's
/// end of its hand-over socket (a `SOCK_SEQPACKET` pair on its stdin).
pub fn spare_of(command: &mut Command) -> (Child, std::os::fd::OwnedFd) {
    use rustix::net::{AddressFamily, SocketFlags, SocketType, socketpair};
    let (ours, theirs) =
        socketpair(AddressFamily::UNIX, SocketType::SEQPACKET, SocketFlags::CLOEXEC, None).unwrap();
    let child = command
        .stdin(Stdio::from(theirs))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    (child, ours)
}

/// Sends `json` with `descriptors` (at most 4) as one message on a spare's
/// hand-over socket; false when it cannot be sent.
pub fn send(
    socket: &std::os::fd::OwnedFd,
    json: &[u8],
    descriptors: &[std::os::fd::BorrowedFd<'_>],
) -> bool {
    use rustix::net::{SendAncillaryBuffer, SendAncillaryMessage, SendFlags, sendmsg};
    let mut space = vec![std::mem::MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(4))];
    let mut ancillary = SendAncillaryBuffer::new(&mut space);
    if !descriptors.is_empty() {
        assert!(ancillary.push(SendAncillaryMessage::ScmRights(descriptors)));
    }
    sendmsg(socket, &[std::io::IoSlice::new(json)], &mut ancillary, SendFlags::NOSIGNAL).is_ok()
}

/// Waits until `spare` waits for its hand-over (blocked in `recvmsg`, system
/// call 47 on x86-64), as weft-appd's launches find it.
pub fn wait_until_waiting(spare: &Child) {
    let syscall = format!("/proc/{}/syscall", spare.id());
    let deadline = Instant::now() + Duration::from_secs(10);
    while !fs::read_to_string(&syscall).is_ok_and(|call| call.starts_with("47 ")) {
        assert!(Instant::now() < deadline, "the spare never waited");
        std::thread::sleep(Duration::from_micros(200));
    }
}
