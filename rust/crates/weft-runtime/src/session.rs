//! The runtime's end of the session channel (`weft_protocol::session`): IPC to
//! and from the app's UI, notifications and clipboard requests.

use std::io::BufReader;
use std::os::unix::net::UnixStream;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender, TryRecvError, sync_channel};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use weft_protocol::session::{
    FrameError, FromApp, MAX_IPC_MESSAGE_BYTES, ToApp, read_message, write_message,
};

/// Messages from the UI waiting for `ipc.recv`. When full, the reader stops
/// reading, so the supervisor's writes block: nothing is dropped.
const IPC_QUEUE: usize = 256;
/// How long a clipboard request waits for the supervisor.
const REPLY_TIMEOUT: Duration = Duration::from_secs(5);

/// Why the channel could not carry a message.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ChannelError {
    /// The supervisor's end is gone.
    #[error("the session channel is closed")]
    Closed,
    /// Nothing came back in time.
    #[error("the supervisor did not answer within {0:?}")]
    Timeout(Duration),
}

/// An open session channel.
pub struct Session {
    writer: Mutex<UnixStream>,
    ipc: Mutex<Receiver<String>>,
    replies: Mutex<Receiver<ToApp>>,
    next_id: AtomicU64,
}

impl Session {
    /// Takes over a connected stream and starts the thread that reads it.
    pub fn start(stream: UnixStream) -> std::io::Result<Arc<Self>> {
        let reader = stream.try_clone()?;
        let (ipc_sender, ipc) = sync_channel(IPC_QUEUE);
        let (reply_sender, replies) = sync_channel(16);
        let session = Arc::new(Self {
            writer: Mutex::new(stream),
            ipc: Mutex::new(ipc),
            replies: Mutex::new(replies),
            next_id: AtomicU64::new(1),
        });
        let weak = Arc::downgrade(&session);
        std::thread::Builder::new().name("session-reader".into()).spawn(move || {
            read_loop(reader, &ipc_sender, &reply_sender, |error| {
                if let Some(session) = weak.upgrade() {
                    let _ = session.send(&FromApp::Error { message: error });
                }
            });
        })?;
        Ok(session)
    }

    /// Sends one message to the supervisor.
    pub fn send(&self, message: &FromApp) -> Result<(), ChannelError> {
        let mut writer = self.writer.lock().map_err(|_| ChannelError::Closed)?;
        write_message(&mut *writer, message).map_err(|_| ChannelError::Closed)
    }

    /// The next message from the UI: waits as `timeout` says (`None`: until one
    /// comes; zero: only checks). `Ok(None)` when the time ran out.
    pub fn recv_ipc(&self, timeout: Option<Duration>) -> Result<Option<String>, ChannelError> {
        let ipc = self.ipc.lock().map_err(|_| ChannelError::Closed)?;
        match timeout {
            None => ipc.recv().map(Some).map_err(|_| ChannelError::Closed),
            Some(Duration::ZERO) => match ipc.try_recv() {
                Ok(message) => Ok(Some(message)),
                Err(TryRecvError::Empty) => Ok(None),
                Err(TryRecvError::Disconnected) => Err(ChannelError::Closed),
            },
            Some(timeout) => match ipc.recv_timeout(timeout) {
                Ok(message) => Ok(Some(message)),
                Err(RecvTimeoutError::Timeout) => Ok(None),
                Err(RecvTimeoutError::Disconnected) => Err(ChannelError::Closed),
            },
        }
    }

    /// Sends a request built from a fresh id and waits for the answer to it.
    pub fn request(&self, build: impl FnOnce(u64) -> FromApp) -> Result<ToApp, ChannelError> {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let replies = self.replies.lock().map_err(|_| ChannelError::Closed)?;
        self.send(&build(id))?;
        let deadline = Instant::now() + REPLY_TIMEOUT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match replies.recv_timeout(left) {
                Ok(reply) if reply_id(&reply) == Some(id) => return Ok(reply),
                // An answer to an earlier request that timed out: stale.
                Ok(_) => {}
                Err(RecvTimeoutError::Timeout) => return Err(ChannelError::Timeout(REPLY_TIMEOUT)),
                Err(RecvTimeoutError::Disconnected) => return Err(ChannelError::Closed),
            }
        }
    }
}

fn reply_id(reply: &ToApp) -> Option<u64> {
    match reply {
        ToApp::ClipboardText { id, .. } | ToApp::Done { id, .. } => Some(*id),
        ToApp::Ipc { .. } => None,
    }
}

/// Reads messages until the channel closes, routing IPC to `ipc` and answers to
/// `replies`; bad messages are reported through `report` and skipped.
fn read_loop(
    stream: UnixStream,
    ipc: &SyncSender<String>,
    replies: &SyncSender<ToApp>,
    report: impl Fn(String),
) {
    let mut reader = BufReader::new(stream);
    loop {
        match read_message::<ToApp>(&mut reader) {
            Ok(ToApp::Ipc { message }) if message.len() > MAX_IPC_MESSAGE_BYTES => report(format!(
                "an IPC message of {} bytes was refused; the limit is {MAX_IPC_MESSAGE_BYTES}",
                message.len()
            )),
            Ok(ToApp::Ipc { message }) => {
                if ipc.send(message).is_err() {
                    return;
                }
            }
            Ok(reply) => {
                if replies.send(reply).is_err() {
                    return;
                }
            }
            Err(FrameError::Closed | FrameError::Io(_)) => return,
            Err(error @ (FrameError::TooLong | FrameError::Malformed(_))) => {
                report(error.to_string());
            }
        }
    }
}
