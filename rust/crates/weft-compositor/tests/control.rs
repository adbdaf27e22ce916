//! The control socket as weft-appd uses it: a Wayland socket per session whose
//! clients speak only for the session's app, window events back, closing a
//! session closes its windows, screenshots; malformed requests are answered.

mod common;

use std::io::Write;
use std::os::unix::net::UnixStream;
use std::path::PathBuf;

use common::*;
use weft_compositor::server::{Config, Handle};
use weft_protocol::compositor::{
    CONTROL_PROTOCOL_VERSION, ControlEvent, ControlReply, ControlRequest, FromCompositor,
};
use weft_protocol::frame::{read_frame_sync, write_frame_sync};
use weft_protocol::zweft::client::zweft_shell_manager_v1::Role;

/// `zweft_shell_manager_v1.error.unauthorized_app_id`.
const UNAUTHORIZED_APP_ID: u32 = 0;

struct Control {
    stream: UnixStream,
    events: Vec<ControlEvent>,
}

impl Control {
    fn connect(path: &std::path::Path) -> Self {
        let mut control = Self { stream: UnixStream::connect(path).unwrap(), events: Vec::new() };
        let welcome =
            control.request(&ControlRequest::Hello { versions: vec![CONTROL_PROTOCOL_VERSION] });
        assert_eq!(welcome, ControlReply::Welcome { version: CONTROL_PROTOCOL_VERSION });
        control
    }

    fn request(&mut self, request: &ControlRequest) -> ControlReply {
        write_frame_sync(&mut self.stream, request).unwrap();
        self.answer()
    }

    /// The next answer; events that come first are kept.
    fn answer(&mut self) -> ControlReply {
        loop {
            match read_frame_sync(&mut self.stream).unwrap() {
                FromCompositor::Reply(reply) => return reply,
                FromCompositor::Event(event) => self.events.push(event),
            }
        }
    }

    fn next_event(&mut self) -> ControlEvent {
        if !self.events.is_empty() {
            return self.events.remove(0);
        }
        match read_frame_sync(&mut self.stream).unwrap() {
            FromCompositor::Event(event) => event,
            FromCompositor::Reply(reply) => panic!("an answer where an event was due: {reply:?}"),
        }
    }
}

/// A compositor with its sessions' sockets and its control socket in a
/// scratch directory.
fn controlled(width: i32, height: i32) -> (tempfile::TempDir, Handle, PathBuf) {
    let scratch = tempfile::tempdir().unwrap();
    let compositor = Handle::spawn(Config {
        backend: Default::default(),
        size: (width, height).into(),
        socket: None,
        runtime_dir: scratch.path().to_owned(),
        keymap: Default::default(),
        drm_device: None,
    });
    let control_path = scratch.path().join("compositor.sock");
    weft_compositor::control::serve(&control_path, compositor.commands()).unwrap();
    (scratch, compositor, control_path)
}

#[test]
fn sessions_get_their_own_socket_and_windows_follow_the_session() {
    let (scratch, compositor, control_path) = controlled(320, 240);
    let mut control = Control::connect(&control_path);

    let opened = control
        .request(&ControlRequest::OpenSession { session: 7, app_id: "org.weft.hello".into() });
    let ControlReply::SessionOpened { session: 7, wayland_display } = opened else {
        panic!("{opened:?}")
    };
    let socket = PathBuf::from(&wayland_display);
    assert_eq!(socket, scratch.path().join("weft-session-7"));
    let again = control
        .request(&ControlRequest::OpenSession { session: 7, app_id: "org.weft.hello".into() });
    assert!(matches!(again, ControlReply::Error { .. }), "{again:?}");

    // A client of the session's socket speaks for the session's app only.
    let mut app = TestClient::on(UnixStream::connect(&socket).unwrap(), [200, 30, 30, 255]);
    let _window = app.zweft_window("org.weft.hello", Role::Application, 100);
    assert_eq!(wait_for_pixel(&compositor, 10, 10, [200, 30, 30, 255]), [200, 30, 30, 255]);
    assert!(matches!(control.next_event(), ControlEvent::WindowOpened { session: 7, .. }));
    let mut impostor = TestClient::on(UnixStream::connect(&socket).unwrap(), [0, 0, 0, 255]);
    impostor.zweft_window("org.weft.notes", Role::Application, 100);
    assert_eq!(
        impostor.protocol_error(),
        Some(("zweft_shell_manager_v1".into(), UNAUTHORIZED_APP_ID))
    );

    let screenshot = scratch.path().join("shot.png");
    let shot =
        control.request(&ControlRequest::Screenshot { path: screenshot.display().to_string() });
    assert_eq!(shot, ControlReply::Ok);
    assert!(std::fs::read(&screenshot).unwrap().starts_with(b"\x89PNG"));

    let closed =
        control.request(&ControlRequest::CloseSession { session: 7, reason: "terminated".into() });
    assert_eq!(closed, ControlReply::Ok);
    assert!(app.until(|seen| seen.closed == ["terminated"]));
    assert!(matches!(control.next_event(), ControlEvent::WindowClosed { session: 7, .. }));
    assert!(!socket.exists(), "the session's socket is gone");
}

#[test]
fn focusing_a_session_brings_its_window_to_the_front() {
    let (_scratch, compositor, control_path) = controlled(320, 240);
    let mut control = Control::connect(&control_path);
    let mut clients = Vec::new();
    for (session, app, colour) in
        [(1, "org.weft.hello", [200, 30, 30, 255]), (2, "org.weft.notes", [30, 30, 200, 255])]
    {
        let opened = control.request(&ControlRequest::OpenSession { session, app_id: app.into() });
        let ControlReply::SessionOpened { wayland_display, .. } = opened else {
            panic!("{opened:?}")
        };
        let mut client = TestClient::on(UnixStream::connect(&wayland_display).unwrap(), colour);
        let window = client.zweft_window(app, Role::Application, 100);
        // The newest window is in front.
        assert_eq!(wait_for_pixel(&compositor, 10, 10, colour), colour);
        clients.push((client, window));
    }
    assert_eq!(control.request(&ControlRequest::FocusSession { session: 1 }), ControlReply::Ok);
    assert_eq!(wait_for_pixel(&compositor, 10, 10, [200, 30, 30, 255]), [200, 30, 30, 255]);
    let missing = control.request(&ControlRequest::FocusSession { session: 9 });
    assert_eq!(missing, ControlReply::Error { message: "session 9 has no window to focus".into() });
}

#[test]
fn malformed_control_requests_are_answered_and_a_missing_hello_is_refused() {
    let (_scratch, _compositor, control_path) = controlled(64, 64);

    let mut rude = UnixStream::connect(&control_path).unwrap();
    write_frame_sync(&mut rude, &ControlRequest::Screenshot { path: "/tmp/x.png".into() }).unwrap();
    let refused: ControlReply = read_frame_sync(&mut rude).unwrap();
    assert!(
        matches!(refused, ControlReply::Error { ref message } if message.contains("HELLO")),
        "{refused:?}"
    );

    let mut control = Control::connect(&control_path);
    control.stream.write_all(&[0, 0, 0, 3, 0xc1, 0xc1, 0xc1]).unwrap();
    assert!(
        matches!(control.answer(), ControlReply::Error { ref message } if message.contains("malformed"))
    );
    let bad_path =
        control.request(&ControlRequest::Screenshot { path: "/nonexistent/dir/x.png".into() });
    assert!(
        matches!(bad_path, ControlReply::Error { ref message } if message.contains("/nonexistent/dir/x.png"))
    );
    let still =
        control.request(&ControlRequest::CloseSession { session: 99, reason: "none".into() });
    assert_eq!(still, ControlReply::Ok, "the connection goes on");
}

/// Threads of this process.
fn threads() -> usize {
    std::fs::read_dir("/proc/self/task").unwrap().count()
}

#[test]
fn closed_control_connections_leave_no_thread_behind() {
    let (_scratch, _compositor, control_path) = controlled(64, 64);
    let baseline = threads();
    let settle = |limit: usize| {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while threads() > limit && std::time::Instant::now() < deadline {
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        threads()
    };
    for _ in 0..20 {
        drop(Control::connect(&control_path));
    }
    // Each connection had a request thread and an event thread; both end
    // with it (the event thread once its subscription is dropped).
    assert_eq!(settle(baseline), baseline, "threads of closed connections remain");
}

#[test]
fn another_user_cannot_reach_the_control_socket() {
    use std::os::unix::process::CommandExt;
    let (scratch, _compositor, control_path) = controlled(64, 64);
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_weft-compositor"))
        .arg("--control-socket")
        .arg(&control_path)
        .arg("screenshot")
        .arg(scratch.path().join("stolen.png"))
        .uid(65534)
        .gid(65534)
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("Permission denied"), "{stderr}");
    assert!(!scratch.path().join("stolen.png").exists());
}
