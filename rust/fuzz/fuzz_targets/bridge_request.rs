//! A page's request to its shell's bridge endpoint, as a page that took over
//! its shell could make it: any URL. Only the endpoint itself carries a
//! message; the message reaches the bridge exactly as decoded, once; and a
//! message the page encoded the way the injected script does comes back
//! unchanged.
#![no_main]

use std::sync::Mutex;
use std::time::Duration;

use libfuzzer_sys::fuzz_target;
use weft_shell_core::bridge::{Bridge, BridgeError, Delivery, answer, endpoint_message};

const ENDPOINT: &str = "weft-app://org.weft.fuzz/.weft/ipc";

/// A bridge that keeps what it was sent.
#[derive(Default)]
struct Kept(Mutex<Vec<String>>);

impl Bridge for Kept {
    fn send(&self, message: String) -> Result<(), BridgeError> {
        self.0.lock().unwrap().push(message);
        Ok(())
    }

    fn recv(&self, _wait: Duration) -> Option<Delivery> {
        None
    }
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    // `text` as a URL the page asked for.
    let kept = Kept::default();
    match endpoint_message(ENDPOINT, text) {
        Some(message) => {
            assert!(text.starts_with(ENDPOINT), "{text:?} is not the endpoint");
            let answered = answer(&kept, "POST", message.as_bytes());
            assert_eq!(answered.status, 204);
            assert_eq!(*kept.0.lock().unwrap(), [message]);
        }
        None => {
            let rest = text.strip_prefix(ENDPOINT);
            assert!(
                rest.is_none_or(|rest| !rest.is_empty() && !rest.starts_with('?')),
                "{text:?} is the endpoint but carried no message"
            );
        }
    }
    // `text` as a message, sent the way the injected script sends it.
    let encoded: String = url::form_urlencoded::byte_serialize(text.as_bytes()).collect();
    let url = format!("{ENDPOINT}?m={encoded}");
    assert_eq!(endpoint_message(ENDPOINT, &url).as_deref(), Some(text), "{url}");
    // Anything but POST sends nothing.
    let unsent = Kept::default();
    assert_eq!(answer(&unsent, "GET", text.as_bytes()).status, 405);
    assert!(unsent.0.lock().unwrap().is_empty());
});
