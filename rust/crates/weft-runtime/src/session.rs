//! The runtime's end of the session channel (`weft_protocol::session`): IPC to
//! and from the app's UI, notifications and clipboard requests.
//!
//! The channel is read by the guest's own thread, inside the host call that
//! waits for a message (`ipc.recv`, or a clipboard request waiting for its
//! answer): a message from the UI wakes the thread that takes it, with no
//! reader thread and queue in between. Until the app reads, messages wait in
//! the socket, so the supervisor's writes block and nothing is dropped.

use std::collections::VecDeque;
use std::io::BufReader;
use std::os::unix::net::UnixStream;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use rustix::event::{PollFd, PollFlags, Timespec, poll};
use weft_protocol::session::{
    FrameError, FromApp, MAX_IPC_MESSAGE_BYTES, ToApp, read_message, write_message,
};

/// Messages from the UI a clipboard request may read past (and keep for
/// `ipc.recv`) while it waits for its answer.
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
    /// The answer is behind more unread UI messages than the runtime keeps.
    #[error(
        "the answer is behind more than {IPC_QUEUE} unread messages from the UI; read them first"
    )]
    Backlog,
}

/// An open session channel.
pub struct Session {
    writer: Mutex<UnixStream>,
    inbox: Mutex<Inbox>,
    next_id: AtomicU64,
}

/// The reading end: the stream, and UI messages a request read past.
struct Inbox {
    reader: BufReader<UnixStream>,
    ipc: VecDeque<String>,
}

impl Session {
    /// Takes over a connected stream.
    pub fn start(stream: UnixStream) -> std::io::Result<Self> {
        let reader = BufReader::new(stream.try_clone()?);
        Ok(Self {
            writer: Mutex::new(stream),
            inbox: Mutex::new(Inbox { reader, ipc: VecDeque::new() }),
            next_id: AtomicU64::new(1),
        })
    }

    /// Sends one message to the supervisor.
    pub fn send(&self, message: &FromApp) -> Result<(), ChannelError> {
        let mut writer = self.writer.lock().map_err(|_| ChannelError::Closed)?;
        write_message(&mut *writer, message).map_err(|_| ChannelError::Closed)
    }

    /// The next message from the UI: waits as `timeout` says (`None`: until one
    /// comes; zero: only checks). `Ok(None)` when the time ran out.
    pub fn recv_ipc(&self, timeout: Option<Duration>) -> Result<Option<String>, ChannelError> {
        let deadline = timeout.map(|timeout| Instant::now() + timeout);
        let mut inbox = self.inbox.lock().map_err(|_| ChannelError::Closed)?;
        if let Some(message) = inbox.ipc.pop_front() {
            return Ok(Some(message));
        }
        loop {
            match self.next(&mut inbox, deadline)? {
                None => return Ok(None),
                Some(ToApp::Ipc { message }) => return Ok(Some(message)),
                // No request waits: an answer to one that timed out.
                Some(stale) => tracing::debug!(?stale, "an answer nobody waits for was dropped"),
            }
        }
    }

    /// Sends a request built from a fresh id and waits for the answer to it;
    /// UI messages that come first are kept for `ipc.recv`.
    pub fn request(&self, build: impl FnOnce(u64) -> FromApp) -> Result<ToApp, ChannelError> {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let mut inbox = self.inbox.lock().map_err(|_| ChannelError::Closed)?;
        self.send(&build(id))?;
        let deadline = Instant::now() + REPLY_TIMEOUT;
        loop {
            if inbox.ipc.len() >= IPC_QUEUE {
                return Err(ChannelError::Backlog);
            }
            match self.next(&mut inbox, Some(deadline))? {
                None => return Err(ChannelError::Timeout(REPLY_TIMEOUT)),
                Some(ToApp::Ipc { message }) => inbox.ipc.push_back(message),
                Some(reply) if reply_id(&reply) == Some(id) => return Ok(reply),
                // An answer to an earlier request that timed out: stale.
                Some(_) => {}
            }
        }
    }

    /// The next message within `deadline` (`None`: no limit), `Ok(None)` when
    /// it passed. Bad messages are reported to the supervisor and skipped.
    fn next(
        &self,
        inbox: &mut Inbox,
        deadline: Option<Instant>,
    ) -> Result<Option<ToApp>, ChannelError> {
        loop {
            // The sender writes whole lines: once a line has begun, the rest
            // of it follows at once, so only its start is waited for here.
            if inbox.reader.buffer().is_empty() && !readable(inbox.reader.get_ref(), deadline)? {
                return Ok(None);
            }
            let report = match read_message::<ToApp>(&mut inbox.reader) {
                Ok(ToApp::Ipc { message }) if message.len() > MAX_IPC_MESSAGE_BYTES => format!(
                    "an IPC message of {} bytes was refused; the limit is {MAX_IPC_MESSAGE_BYTES}",
                    message.len()
                ),
                Ok(message) => return Ok(Some(message)),
                Err(FrameError::Closed | FrameError::Io(_)) => return Err(ChannelError::Closed),
                Err(error @ (FrameError::TooLong | FrameError::Malformed(_))) => error.to_string(),
            };
            self.send(&FromApp::Error { message: report })?;
        }
    }
}

/// Waits until `stream` has something to read (or is closed) within
/// `deadline`; false when the deadline passed first.
fn readable(stream: &UnixStream, deadline: Option<Instant>) -> Result<bool, ChannelError> {
    loop {
        let timeout = deadline.map(|deadline| {
            Timespec::try_from(deadline.saturating_duration_since(Instant::now()))
                .unwrap_or(Timespec { tv_sec: i64::MAX, tv_nsec: 0 })
        });
        let mut fds = [PollFd::new(stream, PollFlags::IN)];
        match poll(&mut fds, timeout.as_ref()) {
            Ok(0) => return Ok(false),
            Ok(_) => return Ok(true),
            Err(rustix::io::Errno::INTR) => {}
            Err(_) => return Err(ChannelError::Closed),
        }
    }
}

fn reply_id(reply: &ToApp) -> Option<u64> {
    match reply {
        ToApp::ClipboardText { id, .. } | ToApp::Done { id, .. } => Some(*id),
        ToApp::Ipc { .. } => None,
    }
}
