//! `hello`: the smallest WEFT app. It tells the supervisor it is ready, then
//! answers every message from its UI with a greeting until the UI closes the
//! channel.

wit_bindgen::generate!({
    path: "../../rust/wit",
    world: "app",
});

use weft::app::{ipc, notify};

/// Builds the answer to one message from the UI.
fn greeting(message: &str) -> String {
    let name = message.trim();
    if name.is_empty() {
        "Hello from WEFT!".to_owned()
    } else {
        format!("Hello, {name}!")
    }
}

fn main() {
    notify::ready();
    let mut answered = 0;
    loop {
        match ipc::recv(None) {
            Ok(Some(message)) => {
                if let Err(error) = ipc::send(&greeting(&message)) {
                    eprintln!("hello: could not answer the UI: {error:?}");
                    std::process::exit(1);
                }
                answered += 1;
            }
            // A bounded wait is never asked for above, so `None` cannot come
            // back; treat it like a closed channel rather than guessing.
            Ok(None) | Err(ipc::IpcError::Closed) => {
                if answered == 0 {
                    eprintln!("hello: the UI closed the channel before saying anything");
                }
                return;
            }
            Err(error) => {
                eprintln!("hello: could not read from the UI: {error:?}");
                std::process::exit(1);
            }
        }
    }
}
