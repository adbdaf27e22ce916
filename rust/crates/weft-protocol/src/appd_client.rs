//! A client of weft-appd's control socket (feature `appd-client`), for
//! `weftctl`, the shells and tests.

use std::path::{Path, PathBuf};

use tokio::io::BufReader;
use tokio::net::UnixStream;
use tokio::net::unix::{OwnedReadHalf, OwnedWriteHalf};

use crate::appd::{
    Event, FrameError, FromAppd, PROTOCOL_VERSION, Reply, Request, read_frame, write_frame,
};

/// Why talking to weft-appd failed.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The socket could not be reached.
    #[error("connecting to {}: {source}", path.display())]
    Connect {
        /// The control socket.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The connection failed or carried something else than a message.
    #[error(transparent)]
    Frame(#[from] FrameError),
    /// weft-appd did not accept the handshake.
    #[error("weft-appd refused the handshake: {0}")]
    Refused(String),
}

type Result<T> = std::result::Result<T, ClientError>;

/// A connection that completed the version handshake.
pub struct Client {
    reader: BufReader<OwnedReadHalf>,
    writer: OwnedWriteHalf,
}

impl Client {
    /// Connects to the socket at `path` and negotiates the version.
    pub async fn connect(path: &Path) -> Result<Self> {
        let stream = UnixStream::connect(path)
            .await
            .map_err(|source| ClientError::Connect { path: path.to_owned(), source })?;
        Self::handshake(stream).await
    }

    /// Negotiates the version over a connection that is already open (the
    /// session channel weft-appd hands an app shell).
    pub async fn handshake(stream: UnixStream) -> Result<Self> {
        let (reader, writer) = stream.into_split();
        // Replies and events are read in one system call each (or fewer).
        let mut client = Self { reader: BufReader::new(reader), writer };
        match client.request(&Request::Hello { versions: vec![PROTOCOL_VERSION] }).await? {
            Reply::Welcome { .. } => Ok(client),
            other => Err(ClientError::Refused(format!("{other:?}"))),
        }
    }

    /// Sends a request and returns its answer; events that arrive meanwhile
    /// are skipped.
    pub async fn request(&mut self, request: &Request) -> Result<Reply> {
        self.send(request).await?;
        loop {
            if let FromAppd::Reply(reply) = self.next().await? {
                return Ok(reply);
            }
        }
    }

    /// Sends a request without waiting for its answer (to pipeline many).
    pub async fn send(&mut self, request: &Request) -> Result<()> {
        Ok(write_frame(&mut self.writer, request).await?)
    }

    /// The next message, event or reply.
    pub async fn next(&mut self) -> Result<FromAppd> {
        Ok(read_frame(&mut self.reader).await?)
    }

    /// The next event; replies that arrive meanwhile are skipped (so use
    /// [`Client::next`] while answers to [`Client::send`] are outstanding).
    pub async fn next_event(&mut self) -> Result<Event> {
        loop {
            if let FromAppd::Event(event) = self.next().await? {
                return Ok(event);
            }
        }
    }

    /// The connection as its two directions, to read in one task while
    /// another sends: a task that both sends and reads must never stop
    /// reading to send (weft-appd answers each request and sends events on
    /// the same connection, so two full buffers would wait on each other),
    /// and a frame read cannot be abandoned halfway.
    pub fn into_split(self) -> (ClientReader, ClientWriter) {
        (ClientReader { reader: self.reader }, ClientWriter { writer: self.writer })
    }

    /// Sends a raw frame payload (for tests of hostile input).
    pub async fn send_raw(&mut self, bytes: &[u8]) -> Result<()> {
        use tokio::io::AsyncWriteExt;
        self.writer.write_all(bytes).await.map_err(FrameError::Io)?;
        Ok(())
    }
}

/// What weft-appd says on a connection ([`Client::into_split`]).
pub struct ClientReader {
    reader: BufReader<OwnedReadHalf>,
}

impl ClientReader {
    /// The next message, event or reply.
    pub async fn next(&mut self) -> Result<FromAppd> {
        Ok(read_frame(&mut self.reader).await?)
    }
}

/// Where requests to weft-appd go on a connection ([`Client::into_split`]).
pub struct ClientWriter {
    writer: OwnedWriteHalf,
}

impl ClientWriter {
    /// Sends a request without waiting for its answer.
    pub async fn send(&mut self, request: &Request) -> Result<()> {
        Ok(write_frame(&mut self.writer, request).await?)
    }
}
