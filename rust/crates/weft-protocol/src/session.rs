//! The session channel between an app's runtime and the supervisor.
//!
//! Framing: newline-delimited JSON, one message per line, UTF-8, at most
//! [`MAX_LINE_BYTES`] bytes per line including the newline. A reader that meets a
//! longer line reports [`FrameError::TooLong`] and skips to the next newline, so
//! one bad message never desynchronises the stream.

use std::io::{self, BufRead, Write};
use std::time::Instant;

use serde::{Deserialize, Serialize};
use tokio::io::{AsyncBufRead, AsyncBufReadExt, AsyncReadExt};

/// Largest IPC message text, in bytes.
pub const MAX_IPC_MESSAGE_BYTES: usize = 64 * 1024;
/// Largest clipboard text, in bytes.
pub const MAX_CLIPBOARD_BYTES: usize = 1024 * 1024;
/// Largest line on the session channel, in bytes (room for the largest message
/// with JSON escaping).
pub const MAX_LINE_BYTES: usize = 8 * MAX_CLIPBOARD_BYTES;
/// IPC messages an app may send, and its UI may send it, at once…
pub const IPC_BURST: u32 = 1_000;
/// …and then per second.
pub const IPC_PER_SECOND: u32 = 500;
/// Notifications an app may show at once…
pub const NOTIFY_BURST: u32 = 5;
/// …and then per second.
pub const NOTIFY_PER_SECOND: u32 = 1;

/// A message from the runtime to the supervisor.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "kebab-case", deny_unknown_fields)]
pub enum FromApp {
    /// A message for the app's UI (`weft:app/ipc.send`).
    Ipc {
        /// The text, at most [`MAX_IPC_MESSAGE_BYTES`].
        message: String,
    },
    /// A notification to show (`weft:app/notifications.notify`).
    Notification {
        /// Short title.
        title: String,
        /// Body text.
        body: String,
    },
    /// A request for the clipboard's text; answered by [`ToApp::ClipboardText`].
    ClipboardRead {
        /// Request id, echoed in the answer.
        id: u64,
    },
    /// A request to replace the clipboard's text; answered by [`ToApp::Done`].
    ClipboardWrite {
        /// Request id, echoed in the answer.
        id: u64,
        /// The new text.
        text: String,
    },
    /// The runtime could not use something the supervisor sent.
    Error {
        /// What was wrong.
        message: String,
    },
}

/// A message from the supervisor to the runtime.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "kebab-case", deny_unknown_fields)]
pub enum ToApp {
    /// A message from the app's UI, for `weft:app/ipc.recv`.
    Ipc {
        /// The text, at most [`MAX_IPC_MESSAGE_BYTES`].
        message: String,
    },
    /// The answer to [`FromApp::ClipboardRead`].
    ClipboardText {
        /// The request id.
        id: u64,
        /// The clipboard's text, if it holds text.
        text: Option<String>,
    },
    /// The answer to a request that returns nothing: success or a refusal.
    Done {
        /// The request id.
        id: u64,
        /// `None` on success; why it was refused otherwise.
        error: Option<String>,
    },
}

/// Why a frame could not be read.
#[derive(Debug, thiserror::Error)]
pub enum FrameError {
    /// The peer closed the channel.
    #[error("the session channel is closed")]
    Closed,
    /// A line longer than [`MAX_LINE_BYTES`]; it was skipped.
    #[error("a message of more than {MAX_LINE_BYTES} bytes was skipped")]
    TooLong,
    /// A line that is not a message of this protocol.
    #[error("malformed message: {0}")]
    Malformed(String),
    /// Reading failed.
    #[error("cannot read the session channel")]
    Io(#[from] io::Error),
}

/// Writes one message as one line.
pub fn write_message<M: Serialize>(writer: &mut impl Write, message: &M) -> io::Result<()> {
    let mut line = serde_json::to_vec(message).map_err(io::Error::other)?;
    line.push(b'\n');
    writer.write_all(&line)?;
    writer.flush()
}

/// Reads the next message, never buffering more than [`MAX_LINE_BYTES`].
pub fn read_message<M: for<'de> Deserialize<'de>>(
    reader: &mut impl BufRead,
) -> Result<M, FrameError> {
    let mut line = Vec::new();
    let read = io::Read::take(&mut *reader, MAX_LINE_BYTES as u64).read_until(b'\n', &mut line)?;
    if read == 0 {
        return Err(FrameError::Closed);
    }
    if line.last() != Some(&b'\n') {
        if line.len() < MAX_LINE_BYTES {
            // End of stream in the middle of a line.
            return Err(FrameError::Closed);
        }
        skip_line(reader)?;
        return Err(FrameError::TooLong);
    }
    serde_json::from_slice(&line).map_err(|error| FrameError::Malformed(error.to_string()))
}

/// [`read_message`] for async readers, with the same bound and recovery.
pub async fn read_message_async<M: for<'de> Deserialize<'de>>(
    reader: &mut (impl AsyncBufRead + Unpin),
) -> Result<M, FrameError> {
    let mut line = Vec::new();
    match read_bounded_line(reader, MAX_LINE_BYTES, &mut line).await? {
        BoundedLine::Whole => {
            serde_json::from_slice(&line).map_err(|error| FrameError::Malformed(error.to_string()))
        }
        BoundedLine::Cut => Err(FrameError::TooLong),
        BoundedLine::Unterminated | BoundedLine::End => Err(FrameError::Closed),
    }
}

/// How [`read_bounded_line`] found its line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BoundedLine {
    /// A whole line (its newline removed).
    Whole,
    /// The line's first `limit` bytes; the rest, up to its newline, was discarded.
    Cut,
    /// The stream ended before a newline; the bytes before the end.
    Unterminated,
    /// The stream ended; nothing was read.
    End,
}

/// Reads one line into `line` holding at most `limit` bytes of it, whatever the
/// peer sends.
pub async fn read_bounded_line(
    reader: &mut (impl AsyncBufRead + Unpin),
    limit: usize,
    line: &mut Vec<u8>,
) -> io::Result<BoundedLine> {
    line.clear();
    (&mut *reader).take(limit as u64).read_until(b'\n', line).await?;
    if line.last() == Some(&b'\n') {
        line.pop();
        return Ok(BoundedLine::Whole);
    }
    if line.len() < limit {
        return Ok(if line.is_empty() { BoundedLine::End } else { BoundedLine::Unterminated });
    }
    loop {
        let buffer = reader.fill_buf().await?;
        if buffer.is_empty() {
            return Ok(BoundedLine::Cut);
        }
        if let Some(newline) = buffer.iter().position(|&b| b == b'\n') {
            reader.consume(newline + 1);
            return Ok(BoundedLine::Cut);
        }
        let len = buffer.len();
        reader.consume(len);
    }
}

/// Discards input up to and including the next newline.
fn skip_line(reader: &mut impl BufRead) -> io::Result<()> {
    loop {
        let buffer = reader.fill_buf()?;
        if buffer.is_empty() {
            return Ok(());
        }
        if let Some(newline) = buffer.iter().position(|&b| b == b'\n') {
            reader.consume(newline + 1);
            return Ok(());
        }
        let len = buffer.len();
        reader.consume(len);
    }
}

/// A token bucket: `burst` messages at once, refilled at `per_second`. Both
/// ends of the session channel hold one per direction they police.
#[derive(Debug)]
pub struct RateLimit {
    burst: f64,
    per_second: f64,
    tokens: f64,
    last: Instant,
}

impl RateLimit {
    /// A full bucket.
    pub fn new(burst: u32, per_second: u32) -> Self {
        Self {
            burst: f64::from(burst),
            per_second: f64::from(per_second),
            tokens: f64::from(burst),
            last: Instant::now(),
        }
    }

    /// Takes a token if there is one.
    pub fn allow(&mut self) -> bool {
        let now = Instant::now();
        let refill = now.duration_since(self.last).as_secs_f64() * self.per_second;
        self.tokens = (self.tokens + refill).min(self.burst);
        self.last = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use std::io::Cursor;

    use super::*;

    #[test]
    fn messages_round_trip_as_one_line_each() {
        let mut wire = Vec::new();
        write_message(&mut wire, &FromApp::Ipc { message: "hi\nthere".into() }).unwrap();
        write_message(&mut wire, &FromApp::ClipboardRead { id: 7 }).unwrap();
        assert_eq!(wire.iter().filter(|&&b| b == b'\n').count(), 2);
        assert!(
            String::from_utf8_lossy(&wire).starts_with(r#"{"type":"ipc","message":"hi\nthere"}"#)
        );
        let mut reader = Cursor::new(wire);
        let first: FromApp = read_message(&mut reader).unwrap();
        assert_eq!(first, FromApp::Ipc { message: "hi\nthere".into() });
        let second: FromApp = read_message(&mut reader).unwrap();
        assert_eq!(second, FromApp::ClipboardRead { id: 7 });
        assert!(matches!(read_message::<FromApp>(&mut reader), Err(FrameError::Closed)));
    }

    /// An oversized line, an unknown message, a good one, then a line cut by EOF.
    fn hostile_wire() -> Vec<u8> {
        let mut wire = vec![b'x'; MAX_LINE_BYTES + 10];
        wire.push(b'\n');
        wire.extend_from_slice(b"{\"type\":\"launch-missiles\"}\n");
        wire.extend_from_slice(b"{\"type\":\"ipc\",\"message\":\"ok\"}\n");
        wire.extend_from_slice(b"{\"type\":\"ipc\"");
        wire
    }

    #[test]
    fn oversized_and_malformed_lines_are_skipped_not_fatal() {
        let mut reader = Cursor::new(hostile_wire());
        assert!(matches!(read_message::<ToApp>(&mut reader), Err(FrameError::TooLong)));
        assert!(matches!(read_message::<ToApp>(&mut reader), Err(FrameError::Malformed(_))));
        assert_eq!(
            read_message::<ToApp>(&mut reader).unwrap(),
            ToApp::Ipc { message: "ok".into() }
        );
        assert!(matches!(read_message::<ToApp>(&mut reader), Err(FrameError::Closed)));
    }

    #[tokio::test]
    async fn the_async_reader_has_the_same_bound_and_recovery() {
        let mut reader = tokio::io::BufReader::new(Cursor::new(hostile_wire()));
        assert!(matches!(read_message_async::<ToApp>(&mut reader).await, Err(FrameError::TooLong)));
        assert!(matches!(
            read_message_async::<ToApp>(&mut reader).await,
            Err(FrameError::Malformed(_))
        ));
        assert_eq!(
            read_message_async::<ToApp>(&mut reader).await.unwrap(),
            ToApp::Ipc { message: "ok".into() }
        );
        assert!(matches!(read_message_async::<ToApp>(&mut reader).await, Err(FrameError::Closed)));
    }

    #[test]
    fn the_rate_limit_allows_the_burst_then_refuses() {
        let mut limit = RateLimit::new(3, 1);
        assert!((0..3).all(|_| limit.allow()));
        assert!(!limit.allow());
    }
}
