//! The shells' window against the real compositor (headless, in this
//! process): frames reach the screen, input and closing come back, and a
//! window for another app than the connection's is refused.

use std::time::{Duration, Instant};

use weft_compositor::server::{Command, Config, Handle};
use weft_compositor::state::{Authorization, Keymap, TouchPhase as CompositorTouch};
use weft_shell_core::frames::{RowOrder, changed_rows};
use weft_shell_core::window::{Event, Input, Role, ShellWindow, TouchPhase, WindowError};

const WIDTH: i32 = 320;
const HEIGHT: i32 = 240;

fn compositor() -> Handle {
    compositor_with(Keymap { layout: "us".into(), ..Default::default() })
}

fn compositor_with(keymap: Keymap) -> Handle {
    Handle::spawn(Config {
        backend: Default::default(),
        size: (WIDTH, HEIGHT).into(),
        socket: None,
        runtime_dir: std::env::temp_dir(),
        keymap,
        drm_device: None,
    })
}

fn app_window(compositor: &Handle, app_id: &str) -> Result<ShellWindow, WindowError> {
    let stream = compositor.connect(Authorization::app("org.weft.hello")).unwrap();
    ShellWindow::on(stream, app_id, "Hello", Role::Application, (WIDTH, HEIGHT))
}

/// A frame of one colour at the window's size.
fn solid(window: &ShellWindow, rgba: [u8; 4]) -> (Vec<u8>, i32, i32) {
    let (width, height) = window.size();
    (rgba.repeat((width * height) as usize), width, height)
}

/// Dispatches until an event matching `wanted` arrives (or 5 s pass).
fn wait_for(window: &mut ShellWindow, wanted: impl Fn(&Event) -> bool) -> Option<Event> {
    let deadline = Instant::now() + Duration::from_secs(5);
    while Instant::now() < deadline {
        for event in window.dispatch(Duration::from_millis(50)).unwrap() {
            if wanted(&event) {
                return Some(event);
            }
        }
    }
    None
}

/// Presents `rgba` and dispatches until the screen shows it.
fn show(compositor: &Handle, window: &mut ShellWindow, rgba: [u8; 4]) {
    let (frame, width, height) = solid(window, rgba);
    window.present(&frame, width, height, RowOrder::TopDown).unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    while compositor.screenshot().unwrap().pixel(100, 100) != rgba {
        assert!(Instant::now() < deadline, "the frame {rgba:?} never reached the screen");
        window.dispatch(Duration::from_millis(5)).unwrap();
    }
}

#[test]
fn frames_in_quick_succession_each_reach_the_screen_in_their_colours() {
    // The window reuses its buffers: a frame is written only into one the
    // compositor let go, so none shows half of another.
    let compositor = compositor();
    let mut window = app_window(&compositor, "org.weft.hello").unwrap();
    for step in 0..60u8 {
        show(&compositor, &mut window, [step * 4, 255 - step * 4, step, 255]);
    }
    // Back to back, without waiting: the last one is what stays.
    for step in 0..20u8 {
        let (frame, width, height) = solid(&window, [step, 7, 200, 255]);
        window.present(&frame, width, height, RowOrder::TopDown).unwrap();
    }
    show(&compositor, &mut window, [19, 7, 200, 255]);
}

#[test]
fn a_frame_that_changes_a_band_of_rows_shows_that_band_and_keeps_the_rest() {
    let compositor = compositor();
    let mut window = app_window(&compositor, "org.weft.hello").unwrap();
    let blue = [10, 120, 230, 255];
    show(&compositor, &mut window, blue);
    let (previous, width, height) = solid(&window, blue);
    // Rows 40 to 59 turn red; the window damages only those.
    let mut frame = previous.clone();
    let row = width as usize * 4;
    for pixel in frame[40 * row..60 * row].chunks_exact_mut(4) {
        pixel.copy_from_slice(&[200, 10, 10, 255]);
    }
    let changed = changed_rows(&previous, &frame, width, RowOrder::TopDown);
    assert_eq!(changed, Some(40..60));
    window.present_rows(&frame, width, height, RowOrder::TopDown, 40..60).unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let shot = compositor.screenshot().unwrap();
        if shot.pixel(100, 50) == [200, 10, 10, 255] {
            assert_eq!(shot.pixel(100, 39), blue, "a row above the band changed");
            assert_eq!(shot.pixel(100, 60), blue, "a row below the band changed");
            break;
        }
        assert!(Instant::now() < deadline, "the changed rows never reached the screen");
        window.dispatch(Duration::from_millis(5)).unwrap();
    }
}

#[test]
fn frames_reach_the_screen_and_input_comes_back() {
    let compositor = compositor();
    let mut window = app_window(&compositor, "org.weft.hello").unwrap();
    assert_eq!(window.size(), (WIDTH, HEIGHT), "an app window fills a screen without a panel");

    show(&compositor, &mut window, [10, 120, 230, 255]);

    compositor.send(Command::Key(30, true));
    let key = wait_for(&mut window, |event| matches!(event, Event::Input(Input::Key { .. })));
    let a = Input::Key { code: 30, pressed: true, text: Some("a".into()) };
    assert_eq!(key, Some(Event::Input(a)));
    compositor.send(Command::PointerMotion(40.0, 50.0));
    let motion =
        wait_for(&mut window, |event| matches!(event, Event::Input(Input::PointerMotion { .. })));
    assert_eq!(motion, Some(Event::Input(Input::PointerMotion { x: 40.0, y: 50.0 })));
    compositor.send(Command::PointerButton(0x110, true));
    let button =
        wait_for(&mut window, |event| matches!(event, Event::Input(Input::PointerButton { .. })));
    assert_eq!(button, Some(Event::Input(Input::PointerButton { button: 0x110, pressed: true })));
    compositor.send(Command::Touch(2, CompositorTouch::Down, 30.0, 20.0));
    let touch = wait_for(&mut window, |event| matches!(event, Event::Input(Input::Touch { .. })));
    assert_eq!(
        touch,
        Some(Event::Input(Input::Touch { id: 2, x: 30.0, y: 20.0, phase: TouchPhase::Down }))
    );

    window.set_title("Hello again");
    let deadline = Instant::now() + Duration::from_secs(5);
    let titles =
        || -> Vec<(u64, Option<String>, String)> { compositor.ask(Command::Windows).unwrap() };
    while titles().iter().all(|(_, _, title)| title != "Hello again") {
        assert!(Instant::now() < deadline, "the new title never reached the compositor");
        window.dispatch(Duration::from_millis(20)).unwrap();
    }

    compositor.send(Command::CloseApp("org.weft.hello".into(), "session ended".into()));
    let closed = wait_for(&mut window, |event| matches!(event, Event::Closed(_)));
    assert_eq!(closed, Some(Event::Closed("session ended".into())));
}

/// Dispatches `window` until it wants a new frame, for at most `within`;
/// whether it did.
fn wants_frame_within(window: &mut ShellWindow, within: Duration) -> bool {
    let deadline = Instant::now() + within;
    while !window.wants_frame() && Instant::now() < deadline {
        window.dispatch(Duration::from_millis(10)).unwrap();
    }
    window.wants_frame()
}

#[test]
fn a_window_wants_a_new_frame_once_the_last_was_drawn_and_a_hidden_one_waits() {
    let compositor = compositor();
    let mut hello = app_window(&compositor, "org.weft.hello").unwrap();
    assert!(hello.wants_frame(), "a new window has no frame to wait for");
    let (frame, width, height) = solid(&hello, [10, 120, 230, 255]);
    hello.present(&frame, width, height, RowOrder::TopDown).unwrap();
    // One newer frame may replace the one waiting, not more.
    assert!(hello.wants_frame(), "a newer frame may replace the one waiting");
    hello.present(&frame, width, height, RowOrder::TopDown).unwrap();
    assert!(!hello.wants_frame(), "two frames wait for one draw");
    assert!(wants_frame_within(&mut hello, Duration::from_secs(5)), "the frame was never drawn");

    // Another app's window comes to the front: hello's next frame is not
    // drawn while it is hidden, so the window does not ask for more.
    let mut other = app_window(&compositor, "org.weft.hello").unwrap();
    let (frame, width, height) = solid(&other, [200, 10, 10, 255]);
    other.present(&frame, width, height, RowOrder::TopDown).unwrap();
    assert!(
        wants_frame_within(&mut other, Duration::from_secs(5)),
        "the front window was not drawn"
    );
    hello.present(&frame, width, height, RowOrder::TopDown).unwrap();
    hello.present(&frame, width, height, RowOrder::TopDown).unwrap();
    assert!(
        !wants_frame_within(&mut hello, Duration::from_millis(300)),
        "a hidden window was told its frame was drawn"
    );
    // Shown again (the front window closed), it is drawn and may go on.
    drop(other);
    assert!(wants_frame_within(&mut hello, Duration::from_secs(5)), "the shown window waits on");
}

#[test]
fn a_window_for_another_app_is_refused() {
    let compositor = compositor();
    let refused = app_window(&compositor, "org.weft.notes").err();
    // Protocol error 0 of zweft_shell_manager_v1: unauthorized_app_id.
    assert!(
        matches!(&refused, Some(WindowError::Connection(message)) if message.contains("Protocol error 0 on object zweft_shell_manager_v1")),
        "{refused:?}"
    );
}

#[test]
fn frames_of_the_wrong_size_are_refused() {
    let compositor = compositor();
    let mut window = app_window(&compositor, "org.weft.hello").unwrap();
    let error = window.present(&[0; 16], 3, 3, RowOrder::TopDown).unwrap_err();
    assert!(matches!(error, WindowError::FrameSize { expected: 36, actual: 16, .. }), "{error}");
    assert!(window.present(&[], 0, 0, RowOrder::TopDown).is_err());
}

#[test]
fn the_panel_chooses_its_height_and_the_app_area_starts_right_below_it() {
    let compositor = compositor();
    let mut app = app_window(&compositor, "org.weft.hello").unwrap();
    let stream = compositor.connect(Authorization::system_ui()).unwrap();
    let mut panel = ShellWindow::on(stream, "system", "WEFT", Role::Panel, (WIDTH, 96)).unwrap();
    assert_eq!(panel.size(), (WIDTH, 96));
    let configured =
        |height| move |event: &Event| *event == Event::Configured { width: WIDTH, height };
    assert!(
        wait_for(&mut app, configured(HEIGHT - 96)).is_some(),
        "the app is not below the panel"
    );

    // The page is 48 pixels high: the panel asks for that, and the app grows.
    panel.request_height(48);
    assert!(wait_for(&mut panel, configured(48)).is_some(), "the panel's height was not granted");
    assert!(wait_for(&mut app, configured(HEIGHT - 48)).is_some(), "the app did not take the rest");
    let (frame, width, height) = solid(&panel, [200, 10, 10, 255]);
    panel.present(&frame, width, height, RowOrder::TopDown).unwrap();
    let (frame, width, height) = solid(&app, [10, 200, 10, 255]);
    app.present(&frame, width, height, RowOrder::TopDown).unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let shot = compositor.screenshot().unwrap();
        if shot.pixel(100, 47) == [200, 10, 10, 255] && shot.pixel(100, 48) == [10, 200, 10, 255] {
            break;
        }
        assert!(Instant::now() < deadline, "the app area does not start right below the panel");
        panel.dispatch(Duration::from_millis(10)).unwrap();
        app.dispatch(Duration::from_millis(10)).unwrap();
    }

    // An application cannot choose its geometry; the panel's bounds hold.
    app.request_height(10);
    panel.request_height(10_000);
    assert!(wait_for(&mut panel, configured(HEIGHT / 2)).is_some(), "the panel is not capped");
    assert!(wait_for(&mut app, configured(HEIGHT - HEIGHT / 2)).is_some());
}

/// The text of the next key press the window gets.
fn typed(compositor: &Handle, window: &mut ShellWindow, code: u32) -> Option<String> {
    compositor.send(Command::Key(code, true));
    compositor.send(Command::Key(code, false));
    let pressed = |event: &Event| matches!(event, Event::Input(Input::Key { code: c, pressed: true, .. }) if *c == code);
    match wait_for(window, pressed) {
        Some(Event::Input(Input::Key { text, .. })) => text,
        other => panic!("no key press: {other:?}"),
    }
}

#[test]
fn a_frame_read_back_bottom_up_is_shown_the_right_way_up() {
    // OpenGL reads a framebuffer back bottom row first; the window turns it.
    let compositor = compositor();
    let mut window = app_window(&compositor, "org.weft.hello").unwrap();
    let (red, blue) = ([230, 20, 20, 255], [20, 20, 230, 255]);
    let (width, height) = window.size();
    let half = (width * (height / 2)) as usize;
    // In memory the bottom half's rows (red) come first, then the top's (blue).
    let mut frame = red.repeat(half);
    frame.extend(blue.repeat((width * height) as usize - half));
    window.present(&frame, width, height, RowOrder::BottomUp).unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let shot = compositor.screenshot().unwrap();
        let column: Vec<[u8; 4]> = (0..shot.height)
            .map(|y| shot.pixel(100, y))
            .filter(|pixel| *pixel == red || *pixel == blue)
            .collect();
        if let (Some(top), Some(bottom)) = (column.first(), column.last()) {
            assert_eq!((*top, *bottom), (blue, red), "the frame is upside down");
            break;
        }
        assert!(Instant::now() < deadline, "the frame never reached the screen");
        window.dispatch(Duration::from_millis(5)).unwrap();
    }
}

#[test]
fn keys_type_what_the_compositors_layout_says() {
    let compositor = compositor_with(Keymap { layout: "de".into(), ..Default::default() });
    let mut window = app_window(&compositor, "org.weft.hello").unwrap();
    // A window gets keys once it is on screen.
    let (frame, width, height) = solid(&window, [10, 120, 230, 255]);
    window.present(&frame, width, height, RowOrder::TopDown).unwrap();
    // On a German keyboard: the key right of L is ä, Y and Z swap places,
    // AltGr+E is the euro sign and Shift+2 is a double quote.
    assert_eq!(typed(&compositor, &mut window, 40).as_deref(), Some("ä"));
    assert_eq!(typed(&compositor, &mut window, 21).as_deref(), Some("z"));
    compositor.send(Command::Key(100, true)); // AltGr down
    assert_eq!(typed(&compositor, &mut window, 18).as_deref(), Some("€"));
    compositor.send(Command::Key(100, false));
    compositor.send(Command::Key(42, true)); // Shift down
    assert_eq!(typed(&compositor, &mut window, 3).as_deref(), Some("\""));
    compositor.send(Command::Key(42, false));
    // Control does not make a control character: Ctrl+A is `a` held with Control.
    compositor.send(Command::Key(29, true));
    assert_eq!(typed(&compositor, &mut window, 30).as_deref(), Some("a"));
    compositor.send(Command::Key(29, false));
    // Keys without text carry none.
    assert_eq!(typed(&compositor, &mut window, 28), None, "Enter");
    assert_eq!(typed(&compositor, &mut window, 105), None, "Left");
}
