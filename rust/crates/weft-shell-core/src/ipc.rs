//! The `weftIpc` bridge of an app shell: what the page sends goes to its
//! session's app through weft-appd's IPC relay, and what the app sends comes
//! back for the page. The same limits as the relay apply before anything
//! leaves: at most [`MAX_IPC_MESSAGE_BYTES`] a message and the relay's rate
//! ([`IPC_BURST`], [`IPC_PER_SECOND`]); what is refused is refused with a
//! reason, and nothing is dropped silently.
//!
//! The bridge is blocking on the shell's side (its web view runs its own
//! loop); one thread holds the connection to weft-appd.

use std::path::Path;
use std::sync::{Mutex, mpsc};
use std::thread::JoinHandle;
use std::time::Duration;

use weft_protocol::appd::{Reply, Request, SessionState};
use weft_protocol::appd_client::Client;

use crate::bridge::{Bridge, BridgeError, Delivery};
use weft_protocol::session::{IPC_BURST, IPC_PER_SECOND, MAX_IPC_MESSAGE_BYTES, RateLimit};

/// One session's bridge.
pub struct IpcBridge {
    outgoing: tokio::sync::mpsc::Sender<String>,
    incoming: Mutex<mpsc::Receiver<Delivery>>,
    rate: Mutex<RateLimit>,
    thread: Option<JoinHandle<()>>,
}

impl IpcBridge {
    /// Connects to weft-appd's control socket for `session`.
    pub fn connect(socket: &Path, session: u64) -> Result<Self, BridgeError> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|error| BridgeError::Closed(format!("no runtime: {error}")))?;
        let client = runtime.block_on(Client::connect(socket))?;
        let (outgoing, to_appd) = tokio::sync::mpsc::channel(IPC_BURST as usize);
        let (to_page, incoming) = mpsc::channel();
        let thread = std::thread::Builder::new()
            .name(format!("weft-ipc-{session}"))
            .spawn(move || runtime.block_on(relay(client, session, to_appd, to_page)))
            .map_err(|error| BridgeError::Closed(format!("no thread: {error}")))?;
        Ok(Self {
            outgoing,
            incoming: Mutex::new(incoming),
            rate: Mutex::new(RateLimit::new(IPC_BURST, IPC_PER_SECOND)),
            thread: Some(thread),
        })
    }
}

impl Bridge for IpcBridge {
    /// Sends `message` to the app, or says why not.
    fn send(&self, message: String) -> Result<(), BridgeError> {
        if message.len() > MAX_IPC_MESSAGE_BYTES {
            return Err(BridgeError::TooLarge {
                size: message.len(),
                limit: MAX_IPC_MESSAGE_BYTES,
            });
        }
        if !self.rate.lock().expect("the rate limit is never poisoned").allow() {
            return Err(BridgeError::RateLimited { burst: IPC_BURST, per_second: IPC_PER_SECOND });
        }
        self.outgoing.try_send(message).map_err(|error| BridgeError::Closed(format!("{error}")))
    }

    /// The next thing for the page, waiting up to `timeout`.
    fn recv(&self, timeout: Duration) -> Option<Delivery> {
        self.incoming.lock().expect("the receiver is never poisoned").recv_timeout(timeout).ok()
    }
}

impl Drop for IpcBridge {
    fn drop(&mut self) {
        // Closing the outgoing side ends the relay thread.
        let (closed, _) = tokio::sync::mpsc::channel(1);
        drop(std::mem::replace(&mut self.outgoing, closed));
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Moves messages both ways until the session stops, the page side goes
/// away, or weft-appd closes the connection.
async fn relay(
    mut client: Client,
    session: u64,
    mut from_page: tokio::sync::mpsc::Receiver<String>,
    to_page: mpsc::Sender<Delivery>,
) {
    loop {
        tokio::select! {
            message = from_page.recv() => {
                let Some(message) = message else { return };
                if let Err(error) = client.send(&Request::IpcForward { session, message }).await {
                    let _ = to_page.send(Delivery::Stopped(error.to_string()));
                    return;
                }
            }
            reply = client.next() => {
                let item = match reply {
                    Ok(Reply::IpcMessage { session: from, message }) if from == session => {
                        Delivery::Message(message)
                    }
                    Ok(Reply::AppState { session: from, state: SessionState::Stopped, reason, .. })
                        if from == session =>
                    {
                        let _ = to_page.send(Delivery::Stopped(reason.unwrap_or_default()));
                        return;
                    }
                    Ok(Reply::Error { code, message }) => {
                        Delivery::Refused(format!("{code:?}: {message}"))
                    }
                    Ok(_) => continue,
                    Err(error) => {
                        let _ = to_page.send(Delivery::Stopped(error.to_string()));
                        return;
                    }
                };
                if to_page.send(item).is_err() {
                    return;
                }
            }
        }
    }
}
