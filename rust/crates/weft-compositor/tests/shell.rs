//! The compositor with real Wayland clients on socket pairs: layout on screen
//! (pixels), zweft-shell authorization, focus, keys, closing, and clients that
//! crash or misbehave.

mod common;

use std::os::fd::AsFd;
use std::os::unix::net::{UnixListener, UnixStream};
use std::time::Duration;

use common::*;
use weft_compositor::server::{Command, Handle};
use weft_compositor::state::{Authorization, Keymap, ShellEvent, TouchPhase};
use weft_protocol::zweft::client::zweft_shell_manager_v1::Role;
use weft_protocol::zweft::client::zweft_shell_window_v1::ZweftShellWindowV1;

const WIDTH: i32 = 640;
const HEIGHT: i32 = 480;
const RED: [u8; 4] = [200, 30, 30, 255];
const GREEN: [u8; 4] = [30, 200, 30, 255];
const BLUE: [u8; 4] = [30, 30, 200, 255];
/// The interface zweft errors are posted on.
const MANAGER: &str = "zweft_shell_manager_v1";
/// `backend::BACKGROUND` as bytes.
const BACKGROUND: [u8; 4] = [28, 36, 48, 255];

fn compositor() -> Handle {
    headless(WIDTH, HEIGHT)
}

/// A blue 40-pixel panel and a focused red app on one compositor.
struct PanelAndApp {
    panel: TestClient,
    app: TestClient,
    /// The window objects, alive as long as the clients.
    _windows: [ZweftShellWindowV1; 2],
}

fn panel_and_app(compositor: &Handle) -> PanelAndApp {
    let mut panel = TestClient::connect(compositor, Authorization::system_ui(), BLUE);
    let panel_window = panel.zweft_window("org.weft.system", Role::Panel, 40);
    let mut app = TestClient::connect(compositor, Authorization::app("org.weft.hello"), RED);
    let app_window = app.zweft_window("org.weft.hello", Role::Application, 100);
    assert!(app.until(|seen| seen.keyboard_entered));
    PanelAndApp { panel, app, _windows: [panel_window, app_window] }
}

/// Where test artifacts (screenshots) go.
fn save_artifact(compositor: &Handle, name: &str) {
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("screenshots");
    std::fs::create_dir_all(&dir).unwrap();
    let png = compositor.screenshot().unwrap().to_png().unwrap();
    std::fs::write(dir.join(format!("{name}.png")), png).unwrap();
}

#[test]
fn the_panel_and_the_focused_app_fill_the_screen_where_the_layout_says() {
    let compositor = compositor();
    assert_eq!(wait_for_pixel(&compositor, 10, 10, BACKGROUND), BACKGROUND);

    let mut panel = TestClient::connect(&compositor, Authorization::system_ui(), BLUE);
    let _panel_window = panel.zweft_window("org.weft.system", Role::Panel, 40);
    assert!(panel.until(|seen| !seen.configures.is_empty()));
    assert_eq!(panel.state.seen.configures[0], (0, 0, WIDTH, 40, 0));

    let mut app = TestClient::connect(&compositor, Authorization::app("org.weft.hello"), RED);
    let _app_window = app.zweft_window("org.weft.hello", Role::Application, 100);
    assert!(app.until(|seen| !seen.configures.is_empty()));
    // Maximized (1) and activated (4), below the panel.
    assert_eq!(app.state.seen.configures[0], (0, 40, WIDTH, HEIGHT - 40, 5));

    assert_eq!(wait_for_pixel(&compositor, 5, 5, BLUE), BLUE);
    assert_eq!(wait_for_pixel(&compositor, WIDTH as u32 - 1, 39, BLUE), BLUE);
    assert_eq!(wait_for_pixel(&compositor, 0, 40, RED), RED);
    assert_eq!(wait_for_pixel(&compositor, WIDTH as u32 - 1, HEIGHT as u32 - 1, RED), RED);
    assert!(app.until(|seen| !seen.presented.is_empty()), "presentation feedback");
    assert!(app.until(|seen| seen.focus == [true]));
    save_artifact(&compositor, "panel-and-app");

    // A second app takes the focus; the first is hidden and told so.
    let mut other = TestClient::connect(&compositor, Authorization::app("org.weft.notes"), GREEN);
    let _other_window = other.zweft_window("org.weft.notes", Role::Application, 100);
    assert_eq!(wait_for_pixel(&compositor, 0, 40, GREEN), GREEN);
    assert!(app.until(|seen| seen.focus == [true, false]));
    save_artifact(&compositor, "second-app-focused");
}

#[test]
fn a_connection_cannot_speak_for_another_app_or_take_the_panel() {
    let compositor = compositor();
    let mut honest = TestClient::connect(&compositor, Authorization::app("org.weft.hello"), RED);
    let _window = honest.zweft_window("org.weft.hello", Role::Application, 100);
    assert_eq!(wait_for_pixel(&compositor, 100, 100, RED), RED);

    let mut impostor = TestClient::connect(&compositor, Authorization::app("org.weft.evil"), GREEN);
    impostor.zweft_window("org.weft.hello", Role::Application, 100);
    assert_eq!(impostor.protocol_error(), Some((MANAGER.into(), 0)), "unauthorized_app_id");

    let mut usurper = TestClient::connect(&compositor, Authorization::app("org.weft.evil"), GREEN);
    usurper.zweft_window("org.weft.system", Role::Panel, 40);
    assert_eq!(usurper.protocol_error(), Some((MANAGER.into(), 1)), "panel_forbidden");

    // An xdg toplevel belongs to its connection's app, whatever app id it claims.
    let mut xdg = TestClient::connect(&compositor, Authorization::app("org.weft.clock"), BLUE);
    xdg.xdg_window();
    assert!(xdg.until(|seen| seen.xdg_sizes.iter().any(|&(w, _)| w == WIDTH)));
    let apps: Vec<_> = windows(&compositor).into_iter().filter_map(|(_, app, _)| app).collect();
    assert_eq!(apps, ["org.weft.hello", "org.weft.clock"]);

    // The honest client kept its window and keeps rendering.
    assert!(honest.roundtrip().is_ok());
    assert_eq!(wait_for_pixel(&compositor, 100, 100, BLUE), BLUE, "the xdg window is focused");
    compositor.send(Command::Focus(1));
    assert_eq!(wait_for_pixel(&compositor, 100, 100, RED), RED);
}

#[test]
fn the_system_ui_hands_out_connections_tagged_with_one_app_id() {
    let compositor = compositor();
    let app = TestClient::connect(&compositor, Authorization::app("org.weft.hello"), RED);
    assert!(app.state.security.is_none(), "an app cannot create security contexts");
    let mut system = TestClient::connect(&compositor, Authorization::system_ui(), RED);
    let scratch = tempfile::tempdir().unwrap();

    // A context for org.weft.clock; the compositor holds the only listener.
    let path = scratch.path().join("clock.sock");
    let listener = UnixListener::bind(&path).unwrap();
    let (close_theirs, close_ours) = rustix::pipe::pipe().unwrap();
    system.security_context(&listener, close_theirs.as_fd(), "org.weft.clock");
    drop((listener, close_theirs));
    let mut clock = TestClient::on(UnixStream::connect(&path).unwrap(), GREEN);
    assert!(clock.state.security.is_none(), "a context's client cannot nest contexts");
    let _window = clock.zweft_window("org.weft.clock", Role::Application, 100);
    assert_eq!(wait_for_pixel(&compositor, 100, 100, GREEN), GREEN);
    let mut liar = TestClient::on(UnixStream::connect(&path).unwrap(), BLUE);
    liar.zweft_window("org.weft.hello", Role::Application, 100);
    assert_eq!(liar.protocol_error(), Some((MANAGER.into(), 0)), "unauthorized_app_id");
    let mut usurper = TestClient::on(UnixStream::connect(&path).unwrap(), BLUE);
    usurper.zweft_window("org.weft.system", Role::Panel, 40);
    assert_eq!(usurper.protocol_error(), Some((MANAGER.into(), 1)), "panel_forbidden");

    // Hanging up the close descriptor ends the context: no new clients.
    drop(close_ours);
    assert!(refused_within(&path, Duration::from_secs(5)), "the context still accepts clients");

    // A context for a hostile app id is never served.
    let hostile = scratch.path().join("hostile.sock");
    let listener = UnixListener::bind(&hostile).unwrap();
    let (close_theirs, _close_ours) = rustix::pipe::pipe().unwrap();
    system.security_context(&listener, close_theirs.as_fd(), "../../evil");
    drop((listener, close_theirs));
    assert!(refused_within(&hostile, Duration::from_secs(5)), "a hostile app id was served");

    let apps: Vec<_> = windows(&compositor).into_iter().filter_map(|(_, app, _)| app).collect();
    assert_eq!(apps, ["org.weft.clock"]);
}

/// Whether connecting to `path` is refused (nobody listens) within `limit`.
fn refused_within(path: &std::path::Path, limit: Duration) -> bool {
    let deadline = std::time::Instant::now() + limit;
    while std::time::Instant::now() < deadline {
        if UnixStream::connect(path).is_err() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    false
}

#[test]
fn keys_reach_the_focused_client_and_super_tab_switches_apps() {
    let compositor = compositor();
    let PanelAndApp { panel: _panel, app: mut first, _windows } = panel_and_app(&compositor);
    let mut second = TestClient::connect(&compositor, Authorization::app("org.weft.notes"), GREEN);
    let _second_window = second.zweft_window("org.weft.notes", Role::Application, 100);
    assert!(second.until(|seen| seen.keyboard_entered));

    const KEY_A: u32 = 30;
    const KEY_TAB: u32 = 15;
    const KEY_LEFTMETA: u32 = 125;
    compositor.send(Command::Key(KEY_A, true));
    compositor.send(Command::Key(KEY_A, false));
    assert!(second.until(|seen| seen.keys == [KEY_A]));
    assert!(first.roundtrip().is_ok());
    assert!(first.state.seen.keys.is_empty(), "an unfocused client sees no keys");

    compositor.send(Command::Key(KEY_LEFTMETA, true));
    compositor.send(Command::Key(KEY_TAB, true));
    compositor.send(Command::Key(KEY_TAB, false));
    compositor.send(Command::Key(KEY_LEFTMETA, false));
    assert!(first.until(|seen| seen.keyboard_entered), "Super+Tab focused the other app");
    assert_eq!(wait_for_pixel(&compositor, 100, 100, RED), RED);
    assert!(!second.state.seen.keys.contains(&KEY_TAB), "the switch key is the compositor's");
    compositor.send(Command::Key(KEY_A, true));
    assert!(first.until(|seen| seen.keys == [KEY_A]));
}

#[test]
fn closing_an_app_sends_window_closed_and_a_crashed_client_harms_no_one() {
    let compositor = compositor();
    let (subscriber, events) = std::sync::mpsc::channel();
    compositor.send(Command::Subscribe(1, subscriber));
    let mut app = TestClient::connect(&compositor, Authorization::app("org.weft.hello"), RED);
    let _window = app.zweft_window("org.weft.hello", Role::Application, 100);
    let mut other = TestClient::connect(&compositor, Authorization::app("org.weft.notes"), GREEN);
    let _other_window = other.zweft_window("org.weft.notes", Role::Application, 100);
    assert_eq!(wait_for_pixel(&compositor, 50, 50, GREEN), GREEN);

    // The session of notes ends: its window is closed and hello shows again.
    compositor.send(Command::CloseApp("org.weft.notes".into(), "session stopped".into()));
    assert!(other.until(|seen| seen.closed == ["session stopped"]));
    assert_eq!(wait_for_pixel(&compositor, 50, 50, RED), RED);

    // A client that dies without cleaning up loses its window; the rest go on.
    let mut crashing = TestClient::connect(&compositor, Authorization::app("org.weft.clock"), BLUE);
    let _crashing_window = crashing.zweft_window("org.weft.clock", Role::Application, 100);
    assert_eq!(wait_for_pixel(&compositor, 50, 50, BLUE), BLUE);
    drop(crashing);
    assert_eq!(wait_for_pixel(&compositor, 50, 50, RED), RED);
    let closed: Vec<_> = events
        .try_iter()
        .filter_map(|event| match event {
            ShellEvent::WindowClosed { app_id, .. } => Some(app_id),
            ShellEvent::WindowOpened { .. } => None,
        })
        .collect();
    assert_eq!(closed, ["org.weft.notes", "org.weft.clock"]);
    assert!(app.roundtrip().is_ok());
}

#[test]
fn malformed_requests_disconnect_only_their_client() {
    let compositor = compositor();
    let mut app = TestClient::connect(&compositor, Authorization::app("org.weft.hello"), RED);
    let _window = app.zweft_window("org.weft.hello", Role::Application, 100);
    assert_eq!(wait_for_pixel(&compositor, 50, 50, RED), RED);

    // Garbage on the wire: a message header for an object that does not exist.
    let mut garbage = compositor.connect(Authorization::app("org.weft.evil")).unwrap();
    std::io::Write::write_all(
        &mut garbage,
        &[0xff, 0xff, 0, 0, 0x10, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8],
    )
    .unwrap();
    let mut reply = Vec::new();
    std::io::Read::read_to_end(&mut garbage, &mut reply).unwrap();
    // The compositor closed the connection (after a wl_display.error).

    // A zero-sized window is a protocol error for that client only.
    let mut broken = TestClient::connect(&compositor, Authorization::app("org.weft.evil"), GREEN);
    broken.zweft_window("org.weft.evil", Role::Application, 0);
    assert_eq!(broken.protocol_error(), Some((MANAGER.into(), 3)), "invalid_geometry");

    assert!(app.roundtrip().is_ok());
    assert_eq!(wait_for_pixel(&compositor, 50, 50, RED), RED);
}

#[test]
fn the_pointer_reaches_the_surface_under_it_and_a_click_gives_the_keyboard() {
    let compositor = compositor();
    let PanelAndApp { mut panel, mut app, _windows } = panel_and_app(&compositor);

    // Over the app, below the panel: surface coordinates start at the app's top.
    compositor.send(Command::PointerMotion(100.0, 100.0));
    assert!(app.until(|seen| seen.pointer_enters == [(100.0, 60.0)]));
    // Over the panel: the app is left, the panel entered.
    compositor.send(Command::PointerMotion(10.0, 10.0));
    assert!(panel.until(|seen| seen.pointer_enters == [(10.0, 10.0)]));
    assert!(app.until(|seen| seen.pointer_leaves == 1));

    // A click on the panel gives it the keyboard (its launcher takes typing).
    const BTN_LEFT: u32 = 0x110;
    compositor.send(Command::PointerButton(BTN_LEFT, true));
    compositor.send(Command::PointerButton(BTN_LEFT, false));
    assert!(panel.until(|seen| seen.buttons == [BTN_LEFT] && seen.keyboard_entered));
    assert!(app.until(|seen| !seen.keyboard_entered));
    assert!(app.state.seen.buttons.is_empty(), "the app saw no click");

    // Off-screen positions are clamped to the output.
    compositor.send(Command::PointerMotion(-50.0, 10_000.0));
    assert!(app.until(|seen| seen.pointer_enters.last() == Some(&(0.0, f64::from(HEIGHT - 41)))));
}

#[test]
fn touch_reaches_the_surface_under_it() {
    let compositor = compositor();
    let PanelAndApp { mut panel, mut app, _windows } = panel_and_app(&compositor);
    compositor.send(Command::Touch(0, TouchPhase::Down, 200.0, 140.0));
    compositor.send(Command::Touch(0, TouchPhase::Up, 200.0, 140.0));
    assert!(app.until(|seen| seen.touch_downs == [(200.0, 100.0)] && seen.touch_ups == 1));
    compositor.send(Command::Touch(1, TouchPhase::Down, 20.0, 20.0));
    compositor.send(Command::Touch(1, TouchPhase::Up, 20.0, 20.0));
    assert!(panel.until(|seen| seen.touch_downs == [(20.0, 20.0)] && seen.touch_ups == 1));
    assert_eq!(app.state.seen.touch_downs.len(), 1, "the panel's touch went to the panel only");
}

#[test]
fn the_keymap_comes_from_the_configuration_and_a_bad_one_is_refused() {
    let keymap = Keymap { layout: "de".into(), ..Keymap::default() };
    let compositor = headless_with_keymap(WIDTH, HEIGHT, keymap);
    let mut app = TestClient::connect(&compositor, Authorization::app("org.weft.hello"), RED);
    let _window = app.zweft_window("org.weft.hello", Role::Application, 100);
    // The German layout has an ä key; the default (US) one has none.
    assert!(app.until(|seen| seen.keymap.contains("adiaeresis")), "{}", app.state.seen.keymap);
    let default = headless(WIDTH, HEIGHT);
    let mut us = TestClient::connect(&default, Authorization::app("org.weft.hello"), RED);
    let _us_window = us.zweft_window("org.weft.hello", Role::Application, 100);
    assert!(us.until(|seen| seen.keymap.contains("xkb_symbols")));
    assert!(!us.state.seen.keymap.contains("adiaeresis"));

    let runtime = tempfile::tempdir().unwrap();
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_weft-compositor"))
        .args(["--xkb-layout", "no-such-layout", "--control-socket"])
        .arg(runtime.path().join("control.sock"))
        .env("XDG_RUNTIME_DIR", runtime.path())
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("cannot build the keymap") && stderr.contains("no-such-layout"),
        "{stderr}"
    );
}
