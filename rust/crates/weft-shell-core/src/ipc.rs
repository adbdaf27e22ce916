//! The `weftIpc` bridge of an app shell: what the page sends goes to its
//! session's app through weft-appd's IPC relay, and what the app sends comes
//! back for the page. The same limits as the relay apply before anything
//! leaves: at most [`MAX_IPC_MESSAGE_BYTES`] a message and the relay's rate
//! ([`IPC_BURST`], [`IPC_PER_SECOND`]); what is refused is refused with a
//! reason, and nothing is dropped silently.
//!
//! The bridge is blocking on the shell's side (its web view runs its own
//! loop); one thread holds the connection to weft-appd.

use std::os::fd::AsFd;
use std::path::Path;
use std::sync::{Mutex, mpsc};
use std::thread::JoinHandle;
use std::time::Duration;

use tokio::net::UnixStream;
use weft_protocol::appd::{Event, FromAppd, Reply, Request, SessionState};
use weft_protocol::appd_client::{Client, ClientReader};

use crate::bridge::{Bridge, BridgeError, Delivery};
use weft_protocol::session::{IPC_BURST, IPC_PER_SECOND, MAX_IPC_MESSAGE_BYTES, RateLimit};

/// One session's bridge.
pub struct IpcBridge {
    outgoing: tokio::sync::mpsc::Sender<String>,
    incoming: Mutex<mpsc::Receiver<Delivery>>,
    rate: Mutex<RateLimit>,
    thread: Option<JoinHandle<()>>,
}

/// Set by weft-appd for the app shells it starts: their session channel is
/// their standard input.
pub const CHANNEL_ENV: &str = "WEFT_APPD_CHANNEL";

impl IpcBridge {
    /// Connects for `session`: over the session channel weft-appd handed this
    /// process (`WEFT_APPD_CHANNEL=stdin`: weft-appd started it as that
    /// session's app shell), else to weft-appd's socket at `socket` (a shell
    /// started by hand or by a test, as the operator).
    pub fn connect(socket: &Path, session: u64) -> Result<Self, BridgeError> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|error| BridgeError::Closed(format!("no runtime: {error}")))?;
        let client = match std::env::var(CHANNEL_ENV).as_deref() {
            Ok("stdin") => {
                let channel = {
                    let _runtime = runtime.enter();
                    UnixStream::from_std(inherited_channel()?).map_err(|error| {
                        BridgeError::Closed(format!("the session channel: {error}"))
                    })?
                };
                runtime.block_on(Client::handshake(channel))?
            }
            Ok(other) => {
                return Err(BridgeError::Closed(format!(
                    "{CHANNEL_ENV}={other:?}: the only channel weft-appd hands down is `stdin`"
                )));
            }
            Err(_) => runtime.block_on(Client::connect(socket))?,
        };
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

/// The session channel on standard input (a duplicate of it, so that
/// standard input itself stays open).
fn inherited_channel() -> Result<std::os::unix::net::UnixStream, BridgeError> {
    let closed = |error: std::io::Error| {
        BridgeError::Closed(format!("the session channel on standard input: {error}"))
    };
    let channel = std::io::stdin().as_fd().try_clone_to_owned().map_err(closed)?;
    if !rustix::fs::fstat(&channel).is_ok_and(|stat| {
        rustix::fs::FileType::from_raw_mode(stat.st_mode) == rustix::fs::FileType::Socket
    }) {
        return Err(BridgeError::Closed(format!(
            "{CHANNEL_ENV}=stdin, but standard input is not a socket"
        )));
    }
    let channel = std::os::unix::net::UnixStream::from(channel);
    channel.set_nonblocking(true).map_err(closed)?;
    Ok(channel)
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
/// away, or weft-appd closes the connection. It first attaches as the
/// session's UI. What weft-appd says is read by a task of its own, so
/// reading never waits for a send (weft-appd answers every forwarded message
/// on this connection: a relay that stopped reading to send would fill both
/// buffers and wait forever) and no frame is left half read.
async fn relay(
    client: Client,
    session: u64,
    mut from_page: tokio::sync::mpsc::Receiver<String>,
    to_page: mpsc::Sender<Delivery>,
) {
    let (reader, mut writer) = client.into_split();
    if let Err(error) = writer.send(&Request::AttachUi { session }).await {
        let _ = to_page.send(Delivery::Stopped(error.to_string()));
        return;
    }
    let mut reading = tokio::spawn(read_from_appd(reader, session, to_page.clone()));
    loop {
        tokio::select! {
            message = from_page.recv() => {
                let Some(message) = message else { break };
                if let Err(error) = writer.send(&Request::IpcForward { session, message }).await {
                    let _ = to_page.send(Delivery::Stopped(error.to_string()));
                    break;
                }
            }
            // The session ended, the page side went away or the connection
            // closed: nothing more to send.
            _ = &mut reading => return,
        }
    }
    reading.abort();
}

/// Hands what weft-appd says for `session` to the page, in order, until the
/// session stops, the connection fails or the page side goes away.
async fn read_from_appd(mut reader: ClientReader, session: u64, to_page: mpsc::Sender<Delivery>) {
    let mut order = InOrder::default();
    loop {
        let items = match reader.next().await {
            Ok(FromAppd::Reply(Reply::UiAttached { session: from, backlog }))
                if from == session =>
            {
                order.attached(backlog.into_iter().map(|queued| (queued.seq, queued.message)))
            }
            Ok(FromAppd::Event(Event::IpcMessage { session: from, message, seq }))
                if from == session =>
            {
                order.broadcast(seq, message)
            }
            Ok(FromAppd::Event(Event::AppState {
                session: from,
                state: SessionState::Stopped,
                reason,
                ..
            })) if from == session => {
                let _ = to_page.send(Delivery::Stopped(reason.unwrap_or_default()));
                return;
            }
            Ok(FromAppd::Reply(Reply::Error { code, message })) => {
                vec![Delivery::Refused(format!("{code:?}: {message}"))]
            }
            Ok(_) => continue,
            Err(error) => {
                let _ = to_page.send(Delivery::Stopped(error.to_string()));
                return;
            }
        };
        for item in items {
            if to_page.send(item).is_err() {
                return;
            }
        }
    }
}

/// Puts the backlog and the broadcast messages in order, each once.
#[derive(Default)]
struct InOrder {
    /// The backlog arrived; until then broadcast messages wait here.
    attached: bool,
    held: Vec<(u64, String)>,
    /// The newest message handed on.
    last: u64,
}

impl InOrder {
    /// The backlog arrived: it, then what waited, newer than what went.
    fn attached(&mut self, backlog: impl Iterator<Item = (u64, String)>) -> Vec<Delivery> {
        self.attached = true;
        let mut items: Vec<(u64, String)> = backlog.chain(self.held.drain(..)).collect();
        items.sort_by_key(|(seq, _)| *seq);
        items.into_iter().filter_map(|(seq, message)| self.pass(seq, message)).collect()
    }

    /// A broadcast message: held until the backlog is in, then handed on
    /// unless it went already.
    fn broadcast(&mut self, seq: u64, message: String) -> Vec<Delivery> {
        if !self.attached {
            self.held.push((seq, message));
            return Vec::new();
        }
        self.pass(seq, message).into_iter().collect()
    }

    fn pass(&mut self, seq: u64, message: String) -> Option<Delivery> {
        // 0: a sender that does not number its messages; pass them all.
        if seq != 0 && seq <= self.last {
            return None;
        }
        self.last = self.last.max(seq);
        Some(Delivery::Message(message))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn texts(items: Vec<Delivery>) -> Vec<String> {
        items
            .into_iter()
            .map(|item| match item {
                Delivery::Message(text) => text,
                other => panic!("{other:?}"),
            })
            .collect()
    }

    #[test]
    fn the_backlog_and_the_broadcast_come_once_and_in_order() {
        let mut order = InOrder::default();
        // Broadcast before the backlog arrives (sent after the bridge connected).
        assert!(order.broadcast(3, "three".into()).is_empty());
        assert!(order.broadcast(4, "four".into()).is_empty());
        let backlog = [(1, "one"), (2, "two"), (3, "three")].map(|(n, t)| (n, t.to_owned()));
        assert_eq!(texts(order.attached(backlog.into_iter())), ["one", "two", "three", "four"]);
        assert_eq!(texts(order.broadcast(4, "four".into())), Vec::<String>::new());
        assert_eq!(texts(order.broadcast(5, "five".into())), ["five"]);
    }
}
