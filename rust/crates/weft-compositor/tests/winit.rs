//! The winit backend, run for real: the compositor binary opens its window as
//! a client of a headless compositor (the way it runs on a developer's
//! desktop), draws its own client there with GLES (Mesa's software
//! rasteriser), and keys typed into the outer compositor reach that client.

mod common;

use std::os::fd::AsRawFd;
use std::os::unix::net::UnixStream;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::*;
use weft_compositor::server::Command as Control;
use weft_compositor::state::Authorization;
use weft_protocol::zweft::client::zweft_shell_manager_v1::Role;

const RED: [u8; 4] = [200, 30, 30, 255];

#[test]
fn the_winit_backend_runs_nested_and_shows_its_clients() {
    let outer = headless(640, 480);
    let runtime = tempfile::tempdir().unwrap();
    std::fs::set_permissions(runtime.path(), std::os::unix::fs::PermissionsExt::from_mode(0o700))
        .unwrap();
    let stream: UnixStream = outer.connect(Authorization::app("org.weft.test.nested")).unwrap();
    rustix::io::fcntl_setfd(&stream, rustix::io::FdFlags::empty()).unwrap();
    let mut nested = Command::new(env!("CARGO_BIN_EXE_weft-compositor"))
        .args(["--backend", "winit", "--size", "640x480", "--socket", "nested"])
        .args(["--socket-app-id", "org.weft.test.inner", "--control-socket"])
        .arg(runtime.path().join("control.sock"))
        .env_remove("WAYLAND_DISPLAY")
        .env_remove("DISPLAY")
        .env("WAYLAND_SOCKET", stream.as_raw_fd().to_string())
        .env("XDG_RUNTIME_DIR", runtime.path())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    drop(stream);
    let socket = runtime.path().join("nested");
    let deadline = Instant::now() + Duration::from_secs(30);
    while !socket.exists() && Instant::now() < deadline {
        assert!(nested.try_wait().unwrap().is_none(), "the nested compositor exited");
        std::thread::sleep(Duration::from_millis(20));
    }

    let mut inner = TestClient::on(UnixStream::connect(&socket).unwrap(), RED);
    let _window = inner.zweft_window("org.weft.test.inner", Role::Application, 100);
    assert_eq!(wait_for_pixel(&outer, 320, 240, RED), RED, "the nested output on the outer screen");
    assert!(inner.until(|seen| seen.keyboard_entered));
    outer.send(Control::Key(30, true));
    outer.send(Control::Key(30, false));
    assert!(inner.until(|seen| seen.keys == [30]), "a key typed outside reached the inner client");
    std::fs::write(
        std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("winit-nested.png"),
        outer.screenshot().unwrap().to_png().unwrap(),
    )
    .unwrap();
    nested.kill().unwrap();
    nested.wait().unwrap();
}
