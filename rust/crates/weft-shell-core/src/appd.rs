//! The system UI's bridge: weft-appd's authenticated WebSocket, held by the
//! shell. The shell reads the token and port from weft-appd's runtime
//! directory and connects with `Origin: weft://system`; the page never sees
//! the token. Messages are weft-appd's JSON messages as text, both ways.

use std::net::TcpStream;
use std::path::Path;
use std::sync::{Mutex, mpsc};
use std::thread::JoinHandle;
use std::time::Duration;

use tungstenite::client::IntoClientRequest;
use tungstenite::{Message, WebSocket};

use crate::bridge::{Bridge, BridgeError, Delivery};
use crate::scheme::{SYSTEM_HOST, SYSTEM_SCHEME};

/// The largest message either way (weft-appd's WebSocket limit).
pub const MAX_APPD_MESSAGE_BYTES: usize = 1 << 20;
/// How often the connection's thread looks for the page's messages while
/// waiting for weft-appd's.
const TURN: Duration = Duration::from_millis(5);

/// A connection to weft-appd's WebSocket on behalf of the system UI.
pub struct AppdSocket {
    outgoing: Option<mpsc::Sender<String>>,
    incoming: Mutex<mpsc::Receiver<Delivery>>,
    thread: Option<JoinHandle<()>>,
}

impl AppdSocket {
    /// Connects with the port and token weft-appd wrote to `runtime_dir`.
    pub fn from_runtime_dir(runtime_dir: &Path) -> Result<Self, BridgeError> {
        let (port, token) = Self::read_runtime_dir(runtime_dir)?;
        Self::connect(port, &token)
    }

    /// The WebSocket's port and token, from weft-appd's runtime directory
    /// (`appd.ws-port`, `appd.token`).
    pub fn read_runtime_dir(runtime_dir: &Path) -> Result<(u16, String), BridgeError> {
        let read = |name: &str| {
            std::fs::read_to_string(runtime_dir.join(name)).map_err(|error| {
                BridgeError::WebSocket(format!("{}: {error}", runtime_dir.join(name).display()))
            })
        };
        let port = read("appd.ws-port")?;
        let port: u16 = port.trim().parse().map_err(|_| {
            BridgeError::WebSocket(format!("appd.ws-port holds {port:?}, not a port"))
        })?;
        Ok((port, read("appd.token")?.trim().to_owned()))
    }

    /// Connects to `ws://127.0.0.1:<port>/?token=<token>` as the system UI
    /// when the page sends its first message (its `HELLO`): weft-appd wants
    /// that within seconds of the handshake, and a page may take longer than
    /// that to load (under TCG it does). A connection that fails is reported
    /// to the page as the channel's end.
    pub fn connect(port: u16, token: &str) -> Result<Self, BridgeError> {
        let failed = |what: &dyn std::fmt::Display| BridgeError::WebSocket(what.to_string());
        let mut request = format!("ws://127.0.0.1:{port}/?token={token}")
            .into_client_request()
            .map_err(|error| failed(&error))?;
        let origin = format!("{SYSTEM_SCHEME}://{SYSTEM_HOST}");
        request.headers_mut().insert("Origin", origin.parse().map_err(|_| failed(&"origin"))?);
        let (outgoing, from_page) = mpsc::channel::<String>();
        let (to_page, incoming) = mpsc::channel();
        let thread = std::thread::Builder::new()
            .name("weft-appd-ws".into())
            .spawn(move || {
                // Nothing to carry until the page speaks; a page that is gone
                // before it does needs no connection.
                let Ok(first) = from_page.recv() else { return };
                match open(port, request) {
                    Ok(mut socket) => {
                        if let Err(error) = socket.send(Message::text(first)) {
                            let reason = format!("weft-appd's WebSocket: {error}");
                            let _ = to_page.send(Delivery::Stopped(reason));
                            return;
                        }
                        relay(socket, &from_page, &to_page);
                    }
                    Err(reason) => {
                        let _ = to_page.send(Delivery::Stopped(reason));
                    }
                }
            })
            .map_err(|error| failed(&error))?;
        Ok(Self { outgoing: Some(outgoing), incoming: Mutex::new(incoming), thread: Some(thread) })
    }
}

/// The WebSocket to weft-appd on `port`, for `request`.
fn open(
    port: u16,
    request: tungstenite::handshake::client::Request,
) -> Result<WebSocket<TcpStream>, String> {
    let stream = TcpStream::connect(("127.0.0.1", port))
        .map_err(|error| format!("weft-appd's WebSocket at 127.0.0.1:{port}: {error}"))?;
    let (socket, _) = tungstenite::client(request, stream)
        .map_err(|error| format!("weft-appd's WebSocket: {error}"))?;
    socket
        .get_ref()
        .set_read_timeout(Some(TURN))
        .map_err(|error| format!("weft-appd's WebSocket: {error}"))?;
    Ok(socket)
}

impl Bridge for AppdSocket {
    fn send(&self, message: String) -> Result<(), BridgeError> {
        if message.len() > MAX_APPD_MESSAGE_BYTES {
            return Err(BridgeError::TooLarge {
                size: message.len(),
                limit: MAX_APPD_MESSAGE_BYTES,
            });
        }
        let outgoing = self.outgoing.as_ref().expect("only Drop takes the sender");
        outgoing
            .send(message)
            .map_err(|_| BridgeError::Closed("weft-appd closed the WebSocket".into()))
    }

    fn recv(&self, timeout: Duration) -> Option<Delivery> {
        self.incoming.lock().expect("the receiver is never poisoned").recv_timeout(timeout).ok()
    }
}

impl Drop for AppdSocket {
    fn drop(&mut self) {
        // A closed sender ends the relay thread at its next turn.
        drop(self.outgoing.take());
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Moves messages both ways until either side closes.
fn relay(
    mut socket: WebSocket<TcpStream>,
    from_page: &mpsc::Receiver<String>,
    to_page: &mpsc::Sender<Delivery>,
) {
    let stopped = |reason: String| {
        let _ = to_page.send(Delivery::Stopped(reason));
    };
    loop {
        loop {
            match from_page.try_recv() {
                Ok(message) => {
                    if let Err(error) = socket.send(Message::text(message)) {
                        return stopped(format!("weft-appd's WebSocket: {error}"));
                    }
                }
                Err(mpsc::TryRecvError::Empty) => break,
                Err(mpsc::TryRecvError::Disconnected) => {
                    let _ = socket.close(None);
                    return;
                }
            }
        }
        match socket.read() {
            Ok(Message::Text(text)) => {
                if to_page.send(Delivery::Message(text.to_string())).is_err() {
                    return;
                }
            }
            Ok(Message::Close(_)) => return stopped("weft-appd closed the WebSocket".into()),
            Ok(_) => {}
            Err(tungstenite::Error::Io(error))
                if matches!(
                    error.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) => {}
            Err(error) => return stopped(format!("weft-appd's WebSocket: {error}")),
        }
    }
}
