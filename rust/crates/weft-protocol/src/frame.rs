//! Length-prefixed MessagePack frames, the framing of the supervisor's and the
//! compositor's control sockets: a 4-byte big-endian length, then that many
//! bytes of MessagePack (maps with field names), at most [`MAX_FRAME_BYTES`].
//! Async functions for tokio peers, `_sync` ones for threads.

use std::io::{self, Read, Write};

use serde::{Deserialize, Serialize};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// Largest frame, in bytes, in either direction.
pub const MAX_FRAME_BYTES: usize = 1 << 20;

/// Why a frame could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum FrameError {
    /// The peer closed the connection.
    #[error("the connection is closed")]
    Closed,
    /// A length prefix above [`MAX_FRAME_BYTES`].
    #[error("a frame of {0} bytes is larger than the limit of {MAX_FRAME_BYTES}")]
    TooLarge(usize),
    /// Bytes that are not a message of this protocol.
    #[error("malformed message: {0}")]
    Malformed(String),
    /// Reading or writing failed.
    #[error("connection I/O failed")]
    Io(#[from] io::Error),
}

/// The frame of `message`: length prefix and payload.
fn encode<M: Serialize>(message: &M) -> Result<Vec<u8>, FrameError> {
    let payload = rmp_serde::to_vec_named(message)
        .map_err(|error| FrameError::Malformed(error.to_string()))?;
    if payload.len() > MAX_FRAME_BYTES {
        return Err(FrameError::TooLarge(payload.len()));
    }
    let mut frame = Vec::with_capacity(4 + payload.len());
    frame.extend_from_slice(&(payload.len() as u32).to_be_bytes());
    frame.extend_from_slice(&payload);
    Ok(frame)
}

/// The payload length a prefix announces, refused above the limit.
fn payload_length(prefix: [u8; 4]) -> Result<usize, FrameError> {
    let length = u32::from_be_bytes(prefix) as usize;
    if length > MAX_FRAME_BYTES {
        return Err(FrameError::TooLarge(length));
    }
    Ok(length)
}

fn decode<M: for<'de> Deserialize<'de>>(payload: &[u8]) -> Result<M, FrameError> {
    rmp_serde::from_slice(payload).map_err(|error| FrameError::Malformed(error.to_string()))
}

/// End of stream before a prefix is a closed connection.
fn closed_at_eof(error: io::Error) -> FrameError {
    if error.kind() == io::ErrorKind::UnexpectedEof { FrameError::Closed } else { error.into() }
}

/// Writes one message as a frame.
pub async fn write_frame<M: Serialize>(
    writer: &mut (impl AsyncWrite + Unpin),
    message: &M,
) -> Result<(), FrameError> {
    writer.write_all(&encode(message)?).await?;
    writer.flush().await?;
    Ok(())
}

/// Reads one frame. An oversized length is refused before anything is
/// allocated; the connection cannot be resynchronised after it and should be
/// closed.
pub async fn read_frame<M: for<'de> Deserialize<'de>>(
    reader: &mut (impl AsyncRead + Unpin),
) -> Result<M, FrameError> {
    let mut prefix = [0u8; 4];
    reader.read_exact(&mut prefix).await.map_err(closed_at_eof)?;
    let mut payload = vec![0u8; payload_length(prefix)?];
    reader.read_exact(&mut payload).await?;
    decode(&payload)
}

/// [`write_frame`] for blocking writers.
pub fn write_frame_sync<M: Serialize>(
    writer: &mut impl Write,
    message: &M,
) -> Result<(), FrameError> {
    writer.write_all(&encode(message)?)?;
    writer.flush()?;
    Ok(())
}

/// [`read_frame`] for blocking readers.
pub fn read_frame_sync<M: for<'de> Deserialize<'de>>(
    reader: &mut impl Read,
) -> Result<M, FrameError> {
    let mut prefix = [0u8; 4];
    reader.read_exact(&mut prefix).map_err(closed_at_eof)?;
    let mut payload = vec![0u8; payload_length(prefix)?];
    reader.read_exact(&mut payload)?;
    decode(&payload)
}
