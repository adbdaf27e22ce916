//! `clock`: sends the time (milliseconds since the Unix epoch) to its UI as
//! `time <ms>` every interval, 1 s by default. The UI may send `interval <ms>`
//! (50 to 60000) or `stop`. Waiting uses `ipc.recv` with a timeout, so the app
//! sleeps between ticks.

wit_bindgen::generate!({ path: "../../rust/wit", world: "app" });

use std::time::{SystemTime, UNIX_EPOCH};

use weft::app::{ipc, notify};

fn main() {
    notify::ready();
    let mut interval_ms: u32 = 1000;
    loop {
        let now = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis());
        if ipc::send(&format!("time {now}")).is_err() {
            return;
        }
        match ipc::recv(Some(interval_ms)) {
            Ok(None) => {}
            Ok(Some(command)) if command == "stop" => return,
            Ok(Some(command)) => match command.strip_prefix("interval ").and_then(|ms| ms.parse().ok()) {
                Some(ms @ 50..=60_000) => interval_ms = ms,
                _ => {
                    let _ = ipc::send(&format!("error unknown command {command:?}"));
                }
            },
            Err(_) => return,
        }
    }
}
