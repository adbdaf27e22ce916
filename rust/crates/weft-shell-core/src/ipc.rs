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
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::Duration;

use weft_protocol::appd::{Reply, Request, SessionState};
use weft_protocol::appd_client::{Client, ClientError};
use weft_protocol::session::{IPC_BURST, IPC_PER_SECOND, MAX_IPC_MESSAGE_BYTES, RateLimit};

/// Why a message did not go, or the bridge ended.
#[derive(Debug, thiserror::Error)]
pub enum BridgeError {
    /// weft-appd could not be reached.
    #[error(transparent)]
    Connect(#[from] ClientError),
    /// The message is over the size limit.
    #[error("a message of {0} bytes is larger than the limit of {MAX_IPC_MESSAGE_BYTES}")]
    TooLarge(usize),
    /// More messages than the relay takes; try again later.
    #[error("too many messages: at most {IPC_PER_SECOND} a second after a burst of {IPC_BURST}")]
    RateLimited,
    /// The session ended or the connection to weft-appd closed.
    #[error("the session's channel is closed: {0}")]
    Closed(String),
}

/// What the bridge hands to the page.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FromApp {
    /// A message the app sent to its UI.
    Message(String),
    /// weft-appd refused a message (its reason).
    Refused(String),
    /// The session stopped (its reason); nothing more will come.
    Stopped(String),
}

/// One session's bridge.
pub struct IpcBridge {
    outgoing: tokio::sync::mpsc::Sender<String>,
    incoming: mpsc::Receiver<FromApp>,
    rate: RateLimit,
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
            incoming,
            rate: RateLimit::new(IPC_BURST, IPC_PER_SECOND),
            thread: Some(thread),
        })
    }

    /// Sends `message` to the app, or says why not.
    pub fn send(&mut self, message: String) -> Result<(), BridgeError> {
        if message.len() > MAX_IPC_MESSAGE_BYTES {
            return Err(BridgeError::TooLarge(message.len()));
        }
        if !self.rate.allow() {
            return Err(BridgeError::RateLimited);
        }
        self.outgoing.try_send(message).map_err(|error| BridgeError::Closed(format!("{error}")))
    }

    /// The next thing for the page, waiting up to `timeout`.
    pub fn recv(&self, timeout: Duration) -> Option<FromApp> {
        self.incoming.recv_timeout(timeout).ok()
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
    to_page: mpsc::Sender<FromApp>,
) {
    loop {
        tokio::select! {
            message = from_page.recv() => {
                let Some(message) = message else { return };
                if let Err(error) = client.send(&Request::IpcForward { session, message }).await {
                    let _ = to_page.send(FromApp::Stopped(error.to_string()));
                    return;
                }
            }
            reply = client.next() => {
                let item = match reply {
                    Ok(Reply::IpcMessage { session: from, message }) if from == session => {
                        FromApp::Message(message)
                    }
                    Ok(Reply::AppState { session: from, state: SessionState::Stopped, reason, .. })
                        if from == session =>
                    {
                        let _ = to_page.send(FromApp::Stopped(reason.unwrap_or_default()));
                        return;
                    }
                    Ok(Reply::Error { code, message }) => {
                        FromApp::Refused(format!("{code:?}: {message}"))
                    }
                    Ok(_) => continue,
                    Err(error) => {
                        let _ = to_page.send(FromApp::Stopped(error.to_string()));
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
