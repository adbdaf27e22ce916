//! The shells' pages in a real browser engine (headless Chromium), with the
//! real bridge script, a real weft-appd and the real wasm apps behind it: the
//! system UI lists, launches, switches and stops apps and shows notifications,
//! with app-controlled text kept as text (a hostile app name stays a name) and
//! inline script refused by its CSP; the apps' pages round-trip messages
//! through their wasm side.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::chromium::Chromium;
use common::pages::PageServer;
use common::{Appd, eventually, system_ui_dir};
use serde_json::json;
use weft_manifest::{AppId, PackagePath};
use weft_protocol::appd::{Reply, Request};
use weft_shell_core::appd::AppdSocket;
use weft_shell_core::bridge::{APPD_PATH, Bridge, Delivery, IPC_PATH, user_script};
use weft_shell_core::ipc::IpcBridge;
use weft_shell_core::scheme::AppFiles;

const WAIT: Duration = Duration::from_secs(20);
/// An app name that is markup; it must be shown as these characters.
const HOSTILE_NAME: &str = "<img src=x onerror=document.body.dataset.pwned=1>";

/// The system UI in Chromium, talking to `appd` through the shell's bridge.
fn system_ui(appd: &Appd) -> (PageServer, Chromium) {
    let bridge: Arc<dyn Bridge> =
        Arc::new(AppdSocket::from_runtime_dir(&appd.runtime_dir()).unwrap());
    let server = PageServer::start(
        AppFiles::system_ui(&system_ui_dir()).unwrap(),
        APPD_PATH,
        Arc::clone(&bridge),
    );
    let mut browser = Chromium::start(1024, 200);
    browser.deliver_from(bridge);
    browser.inject(&user_script("weftAppd", APPD_PATH));
    browser.open(&server.entry);
    (server, browser)
}

/// `app`'s page in Chromium, its bridge on `session`.
fn app_page(appd: &Appd, app: &str, id: &str, session: u64) -> (PageServer, Chromium) {
    let bridge: Arc<dyn Bridge> = Arc::new(IpcBridge::connect(&appd.socket(), session).unwrap());
    let files = AppFiles::open(
        &weft_testkit::built_package(app),
        AppId::new(id).unwrap(),
        PackagePath::new("ui/index.html").unwrap(),
    )
    .unwrap();
    let server = PageServer::start(files, IPC_PATH, Arc::clone(&bridge));
    let mut browser = Chromium::start(800, 600);
    browser.deliver_from(bridge);
    browser.inject(&user_script("weftIpc", IPC_PATH));
    browser.open(&server.entry);
    (server, browser)
}

/// The text of every element matching `selector`.
fn texts(browser: &mut Chromium, selector: &str) -> serde_json::Value {
    browser.eval(&format!("[...document.querySelectorAll({selector:?})].map((e) => e.textContent)"))
}

#[test]
fn built_apps_the_system_ui_shows_app_names_as_text_and_refuses_inline_script() {
    let appd = Appd::new()
        .install("hello", None)
        .install("hello", Some(("org.weft.hostile", HOSTILE_NAME)))
        .start(&[]);
    let (_server, mut browser) = system_ui(&appd);
    let shown =
        browser.wait_for("document.querySelectorAll('#launcher button').length === 2", WAIT);
    assert!(shown.is_some(), "the launcher never listed the apps: {}", texts(&mut browser, "#bar"));
    let names = texts(&mut browser, "#launcher button");
    assert_eq!(names, json!(["Hello", HOSTILE_NAME]));
    assert_eq!(browser.eval("document.querySelectorAll('img').length"), json!(0));
    assert_eq!(browser.eval("document.body.dataset.pwned === undefined"), json!(true));
    let inline_ran = browser.eval(
        "(() => { const s = document.createElement('script'); \
         s.textContent = 'window.inlineRan = true'; document.body.append(s); \
         return window.inlineRan === true; })()",
    );
    assert_eq!(inline_ran, json!(false), "the CSP let an inline script run");
    // The hostile app launches like any other, and its name in the running
    // list is text too.
    browser.eval("document.querySelectorAll('#launcher button')[1].click()");
    let running =
        browser.wait_for("document.querySelector('#running li.running .name')?.textContent", WAIT);
    assert_eq!(running, Some(json!(HOSTILE_NAME)));
    assert_eq!(browser.eval("document.querySelectorAll('img').length"), json!(0));
}

#[test]
fn built_apps_a_system_ui_page_that_loads_slowly_still_reaches_weft_appd() {
    // weft-appd wants HELLO within 5 s of the WebSocket's handshake, and a
    // page can take longer to load (it did in the VM, under TCG): the shell
    // opens the socket when the page first speaks, not when it starts.
    let appd = Appd::new().start(&[]);
    let socket = AppdSocket::from_runtime_dir(&appd.runtime_dir()).unwrap();
    std::thread::sleep(Duration::from_secs(6));
    socket.send(json!({ "type": "HELLO", "versions": [1] }).to_string()).unwrap();
    match socket.recv(WAIT) {
        Some(Delivery::Message(text)) => assert!(text.contains("WELCOME"), "{text}"),
        other => panic!("no welcome: {other:?}"),
    }
}

#[test]
fn built_apps_the_system_ui_shows_the_id_beside_a_name_that_is_not_unique() {
    // Two vendors' apps of the same name (the store allows that, not names
    // that only look alike) and one named apart.
    let appd = Appd::new()
        .install("hello", Some(("org.one.twin", "Twin")))
        .install("hello", Some(("org.two.twin", "Twin")))
        .install("notes", None)
        .start(&[]);
    let (_server, mut browser) = system_ui(&appd);
    let listed = "document.querySelectorAll('#launcher button').length === 3";
    assert!(browser.wait_for(listed, WAIT).is_some(), "{}", texts(&mut browser, "#bar"));
    let mut names: Vec<String> =
        serde_json::from_value(texts(&mut browser, "#launcher button")).unwrap();
    names.sort();
    assert_eq!(names, ["Notes", "Twin (org.one.twin)", "Twin (org.two.twin)"]);
    browser.eval(
        "[...document.querySelectorAll('#launcher button')].find((b) => b.dataset.appId === 'org.two.twin').click()",
    );
    let running =
        browser.wait_for("document.querySelector('#running li.running .name')?.textContent", WAIT);
    assert_eq!(running, Some(json!("Twin (org.two.twin)")));
}

#[test]
fn built_apps_the_system_ui_launches_switches_notifies_and_stops() {
    let appd = Appd::new().install("hello", None).install("notes", None).start(&[]);
    let (_server, mut browser) = system_ui(&appd);
    assert!(
        browser
            .wait_for("document.querySelectorAll('#launcher button').length === 2", WAIT)
            .is_some()
    );
    for name in ["Hello", "Notes"] {
        browser.eval(&format!(
            "[...document.querySelectorAll('#launcher button')].find((b) => b.textContent === {name:?}).click()"
        ));
        let shown = browser.wait_for(
            &format!("[...document.querySelectorAll('#running li.running .name')].some((n) => n.textContent === {name:?})"),
            WAIT,
        );
        assert!(
            shown.is_some(),
            "{name} never showed as running: {}",
            texts(&mut browser, "#running li")
        );
    }
    let Reply::RunningApps { sessions } = appd.request(Request::QueryRunning) else { panic!() };
    let session_of = |app: &str| sessions.iter().find(|s| s.app_id == app).unwrap().session;
    let (hello, notes) = (session_of("org.weft.hello"), session_of("org.weft.notes"));

    // The task switcher: the newest app is in front, as the compositor puts
    // it; the compositor's gesture, relayed by weft-appd, moves to the next,
    // and the page asks weft-appd to focus it (which, without a compositor
    // here, it refuses by name).
    let focused = "document.querySelector('#running li.focused')?.dataset.session";
    assert_eq!(browser.eval(focused), json!(notes.to_string()));
    appd.request(Request::PanelGesture { gesture: "switch-app".into() });
    assert_eq!(browser.wait_for(&format!("{focused} === '{hello}'"), WAIT), Some(json!(true)));
    let status = "document.getElementById('status').textContent";
    let refused = browser.wait_for(&format!("{status}.includes('compositor-socket')"), WAIT);
    assert!(refused.is_some(), "no refusal shown: {}", browser.eval(status));

    // A notification from notes (saving a note) shows in the system UI.
    let notes_ui = IpcBridge::connect(&appd.socket(), notes).unwrap();
    notes_ui.send("save shopping milk".into()).unwrap();
    let notified =
        browser.wait_for("document.querySelector('#notifications li')?.textContent", WAIT);
    assert_eq!(notified, Some(json!("Notes: Note savedshopping")));

    // Stopping from the running list ends the session in weft-appd.
    browser.eval(&format!(
        "document.querySelector('#running li[data-session=\"{hello}\"] .stop').click()"
    ));
    let gone = browser.wait_for(
        &format!("!document.querySelector('#running li[data-session=\"{hello}\"]')"),
        WAIT,
    );
    assert!(gone.is_some(), "hello stayed in the running list");
    let stopped = eventually(WAIT, || {
        let (state, reason) = appd.state(hello);
        (state == weft_protocol::appd::SessionState::Stopped).then_some(reason)
    });
    assert_eq!(stopped, Some(Some("terminated".into())));
}

#[test]
fn built_apps_the_hello_page_round_trips_through_its_wasm_app() {
    let appd = Appd::new().install("hello", None).start(&[]);
    let session = appd.launch("org.weft.hello");
    let (_server, mut browser) = app_page(&appd, "hello", "org.weft.hello", session);
    browser.eval("document.getElementById('name').value = 'Chromium'; document.getElementById('say').click()");
    let answer = browser.wait_for("document.getElementById('answer').textContent", WAIT);
    assert_eq!(answer, Some(json!("Hello, Chromium!")));
    // An oversized message is refused with the reason; nothing is sent.
    let refused =
        browser.eval("weftIpc.send('x'.repeat(70000)).then(() => 'sent', (e) => e.message)");
    assert!(refused.as_str().unwrap().contains("larger than the limit of 65536"), "{refused}");
    // The page hears the session's end.
    appd.request(Request::TerminateApp { session });
    let stopped = browser.wait_for("document.getElementById('answer').dataset.stopped", WAIT);
    assert_eq!(stopped, Some(json!("terminated")));
}

#[test]
fn built_apps_the_clock_and_notes_pages_work_through_their_wasm_apps() {
    let appd = Appd::new().install("clock", None).install("notes", None).start(&[]);
    let clock = appd.launch("org.weft.clock");
    let (_clock_server, mut clock_page) = app_page(&appd, "clock", "org.weft.clock", clock);
    let ticked =
        clock_page.wait_for("Number(document.getElementById('ticks').textContent) >= 2", WAIT);
    assert!(ticked.is_some(), "the clock did not tick: {}", texts(&mut clock_page, "body"));
    let shown = clock_page.eval("document.getElementById('time').textContent");
    assert!(shown.as_str().unwrap().split(':').count() == 3, "{shown}");

    let notes = appd.launch("org.weft.notes");
    let (_notes_server, mut notes_page) = app_page(&appd, "notes", "org.weft.notes", notes);
    notes_page.eval(
        "document.getElementById('name').value = 'todo'; \
         document.getElementById('text').value = 'write <b>tests</b>'; \
         document.getElementById('save').click()",
    );
    let listed = notes_page.wait_for("document.querySelector('#list button')?.textContent", WAIT);
    assert_eq!(listed, Some(json!("todo")));
    notes_page.eval("document.getElementById('text').value = ''; document.querySelector('#list button').click()");
    let loaded = notes_page.wait_for("document.getElementById('text').value", WAIT);
    assert_eq!(loaded, Some(json!("write <b>tests</b>")));
    assert_eq!(notes_page.eval("document.querySelectorAll('b').length"), json!(0));
}
