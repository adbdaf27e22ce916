//! The weftIpc bridge with a real weft-appd and the real hello app: a page's
//! message reaches the app and its answer comes back; oversized messages and
//! floods are refused before they leave; the session's end is reported.

mod common;

use std::time::Duration;

use common::Appd;
use weft_protocol::appd::Request;
use weft_protocol::session::{IPC_BURST, MAX_IPC_MESSAGE_BYTES};
use weft_shell_core::bridge::{Bridge, BridgeError, Delivery};
use weft_shell_core::ipc::IpcBridge;

fn hello() -> (Appd, u64) {
    let appd = Appd::new().install("hello", None).start(&[]);
    let session = appd.launch("org.weft.hello");
    (appd, session)
}

#[test]
fn built_apps_a_page_message_reaches_the_app_and_its_answer_comes_back() {
    let (appd, session) = hello();
    let bridge = IpcBridge::connect(&appd.socket(), session).unwrap();

    let oversized = "x".repeat(MAX_IPC_MESSAGE_BYTES + 1);
    assert!(matches!(bridge.send(oversized), Err(BridgeError::TooLarge { .. })));

    for name in ["WEFT", "again"] {
        bridge.send(name.into()).unwrap();
        let answer = bridge.recv(Duration::from_secs(10));
        assert_eq!(answer, Some(Delivery::Message(format!("Hello, {name}!"))));
    }
    // The page hears that the session ended, and why.
    appd.request(Request::TerminateApp { session });
    let end = bridge.recv(Duration::from_secs(10));
    assert_eq!(end, Some(Delivery::Stopped("terminated".into())));
}

#[test]
fn built_apps_what_the_app_sent_before_its_ui_came_up_is_not_lost() {
    let appd = Appd::new().install("clock", None).start(&[]);
    let session = appd.launch("org.weft.clock");
    // clock sends the time at once and then every second; its UI comes late.
    std::thread::sleep(Duration::from_millis(2_300));
    let bridge = IpcBridge::connect(&appd.socket(), session).unwrap();
    let mut times = Vec::new();
    while let Some(Delivery::Message(message)) = bridge.recv(Duration::from_millis(300)) {
        times.push(message.strip_prefix("time ").unwrap().parse::<u64>().unwrap());
    }
    assert!(times.len() >= 3, "only {times:?} came before the next tick");
    assert!(times.windows(2).all(|pair| pair[0] < pair[1]), "out of order: {times:?}");
    // The first is the one sent at READY, over two seconds ago.
    assert!(times[times.len() - 1] - times[0] >= 1_900, "{times:?}");
}

#[test]
fn built_apps_a_flood_is_refused_before_it_leaves() {
    let (appd, session) = hello();
    let bridge = IpcBridge::connect(&appd.socket(), session).unwrap();
    let refused = (0..=IPC_BURST * 2)
        .map(|n| bridge.send(format!("message {n}")))
        .filter(|sent| matches!(sent, Err(BridgeError::RateLimited { .. })))
        .count();
    assert!(refused > 0, "a burst of {} went through unlimited", IPC_BURST * 2 + 1);
}

#[test]
fn a_missing_supervisor_is_named() {
    let error = IpcBridge::connect(std::path::Path::new("/nonexistent/appd.sock"), 1)
        .err()
        .expect("no weft-appd there");
    assert!(error.to_string().contains("/nonexistent/appd.sock"), "{error}");
}
