//! Stock Debian clients as separate processes on the headless compositor,
//! each on its own authorised connection (`WAYLAND_SOCKET`): weston-simple-shm
//! and foot appear where the layout puts them, typed keys reach foot, a killed
//! client takes only its window with it, and closing an app closes its window.

mod common;

use std::os::fd::AsRawFd;
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::*;
use weft_compositor::server::{Command as Control, Handle};
use weft_compositor::state::Authorization;

const WIDTH: i32 = 640;
const HEIGHT: i32 = 480;
/// foot's default background.
const FOOT_BACKGROUND: [u8; 4] = [17, 17, 17, 255];
const WHITE: [u8; 4] = [255, 255, 255, 255];

/// Starts `program` as a client of `compositor` speaking for `app_id`.
fn spawn_client(
    compositor: &Handle,
    app_id: &str,
    program: &str,
    args: &[&str],
    runtime: &Path,
) -> Child {
    let stream: UnixStream = compositor.connect(Authorization::app(app_id)).unwrap();
    // The child inherits this end; WAYLAND_SOCKET names it.
    rustix::io::fcntl_setfd(&stream, rustix::io::FdFlags::empty()).unwrap();
    let child = Command::new(program)
        .args(args)
        .env_remove("WAYLAND_DISPLAY")
        .env("WAYLAND_SOCKET", stream.as_raw_fd().to_string())
        .env("XDG_RUNTIME_DIR", runtime)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|error| {
            panic!("cannot run {program} (tests/install-host-tools.sh installs it): {error}")
        });
    drop(stream);
    child
}

fn exited_within(child: &mut Child, limit: Duration) -> bool {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if child.try_wait().unwrap().is_some() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    false
}

#[test]
fn stock_clients_render_take_keys_and_leave_cleanly() {
    let compositor = headless(WIDTH, HEIGHT);
    let runtime = tempfile::tempdir().unwrap();
    std::fs::set_permissions(runtime.path(), std::os::unix::fs::PermissionsExt::from_mode(0o700))
        .unwrap();

    // weston-simple-shm draws a fixed 250×250 pattern with a white border at
    // the origin of its window, which fills the screen.
    let mut simple_shm = spawn_client(
        &compositor,
        "org.weft.test.simple-shm",
        "weston-simple-shm",
        &[],
        runtime.path(),
    );
    assert_eq!(
        wait_for_pixel(&compositor, 0, 0, WHITE),
        WHITE,
        "simple-shm's border at the window origin"
    );

    // foot takes the focus and fills the screen; what it runs records a line.
    // The line is written beside the file and renamed into place, so the file
    // never exists empty (the redirect creates it before printf writes).
    let typed = runtime.path().join("typed");
    let script = format!(
        "read line; printf '%s' \"$line\" > '{0}.part' && mv '{0}.part' '{0}'",
        typed.display()
    );
    let mut foot = spawn_client(
        &compositor,
        "org.weft.test.foot",
        "foot",
        &["sh", "-c", &script],
        runtime.path(),
    );
    assert_eq!(wait_for_pixel(&compositor, 600, 400, FOOT_BACKGROUND), FOOT_BACKGROUND);
    // Decorations are the server's (xdg-decoration): foot draws no title bar.
    assert_eq!(wait_for_pixel(&compositor, 300, 5, FOOT_BACKGROUND), FOOT_BACKGROUND);
    let focused = windows(&compositor);
    assert_eq!(focused.len(), 2, "{focused:?}");
    std::fs::write(
        Path::new(env!("CARGO_TARGET_TMPDIR")).join("stock-clients.png"),
        compositor.screenshot().unwrap().to_png().unwrap(),
    )
    .unwrap();

    // h, i, Enter (evdev codes) reach the focused client: foot. Under load foot
    // may still be starting its shell, so the line is typed again if it does
    // not arrive (a second line after the shell read one changes nothing).
    for _attempt in 0..3 {
        for key in [35, 23, 28] {
            compositor.send(Control::Key(key, true));
            compositor.send(Control::Key(key, false));
        }
        let deadline = Instant::now() + Duration::from_secs(5);
        while !typed.exists() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        if typed.exists() {
            break;
        }
    }
    assert_eq!(std::fs::read_to_string(&typed).unwrap_or_default(), "hi");
    // foot's command finished; foot exits and its window goes.
    assert!(exited_within(&mut foot, Duration::from_secs(10)), "foot exited after its command");

    // simple-shm is shown again; killing it takes its window and nothing else.
    assert_eq!(wait_for_pixel(&compositor, 0, 0, WHITE), WHITE);
    simple_shm.kill().unwrap();
    simple_shm.wait().unwrap();
    let background = [28, 36, 48, 255];
    assert_eq!(wait_for_pixel(&compositor, 0, 0, background), background);
    let deadline = Instant::now() + Duration::from_secs(10);
    while !windows(&compositor).is_empty() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(windows(&compositor), []);

    // A second foot is closed when its app's session ends.
    let mut foot = spawn_client(
        &compositor,
        "org.weft.test.foot",
        "foot",
        &["sh", "-c", "sleep 60"],
        runtime.path(),
    );
    assert_eq!(wait_for_pixel(&compositor, 600, 400, FOOT_BACKGROUND), FOOT_BACKGROUND);
    compositor.send(Control::CloseApp("org.weft.test.foot".into(), "session stopped".into()));
    assert!(exited_within(&mut foot, Duration::from_secs(10)), "foot closed its window and exited");
}

#[test]
fn wayland_info_sees_the_advertised_globals() {
    let compositor = headless(WIDTH, HEIGHT);
    let runtime = tempfile::tempdir().unwrap();
    let stream: UnixStream = compositor.connect(Authorization::app("org.weft.test.info")).unwrap();
    rustix::io::fcntl_setfd(&stream, rustix::io::FdFlags::empty()).unwrap();
    let output = Command::new("wayland-info")
        .env_remove("WAYLAND_DISPLAY")
        .env("WAYLAND_SOCKET", stream.as_raw_fd().to_string())
        .env("XDG_RUNTIME_DIR", runtime.path())
        .output()
        .expect("wayland-info (wayland-utils) runs");
    let listed = String::from_utf8_lossy(&output.stdout);
    for global in [
        "wl_compositor",
        "wl_subcompositor",
        "wl_shm",
        "xdg_wm_base",
        "wl_seat",
        "wl_data_device_manager",
        "wl_output",
        "zxdg_output_manager_v1",
        "zxdg_decoration_manager_v1",
        "wp_viewporter",
        "wp_presentation",
        "zweft_shell_manager_v1",
    ] {
        assert!(listed.contains(&format!("'{global}'")), "{global} missing from:\n{listed}");
    }
}
