//! The supervisor's doors: the private operator socket (MessagePack frames),
//! the WebSocket on 127.0.0.1 for the system UI (JSON text frames, a per-boot
//! token and an allowed Origin required before anything is read), and each
//! app shell's session channel (MessagePack frames). All feed one client loop,
//! which holds the connection's [`Authority`] and checks every request and
//! event against it.

use std::fs;
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use futures_util::{SinkExt, StreamExt};
use tokio::net::{TcpListener, TcpStream, UnixListener, UnixStream};
use tokio::sync::{broadcast, mpsc};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::handshake::server::{
    ErrorResponse, Request as HttpRequest, Response,
};
use tokio_tungstenite::tungstenite::http::StatusCode;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use weft_protocol::appd::{
    ErrorCode, Event, FrameError, FromAppd, MAX_FRAME_BYTES, PROTOCOL_VERSION, Reply, Request,
    read_frame, write_frame,
};

use crate::authority::{self, Authority};
use crate::daemon::{Daemon, Failure, LogItem, LogSnapshot, make_private};

/// How long a new client has to say HELLO.
const HELLO_TIMEOUT: Duration = Duration::from_secs(5);
/// How long a WebSocket client has to finish the HTTP upgrade.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(5);
/// WebSocket upgrades in progress at once; connections beyond are closed at
/// once (only the system UI, which upgrades in a moment, needs one).
const MAX_PENDING_HANDSHAKES: usize = 64;
/// The pause after a failed accept (out of descriptors, say), so that a full
/// descriptor table is not retried in a busy loop.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);
/// Replies and events queued for a slow client before it is disconnected.
const CLIENT_QUEUE: usize = 256;
/// The read buffer of each client stream: requests are tens of bytes (a
/// longer one is still read whole, in more than one read).
const CLIENT_READ_BYTES: usize = 2048;

/// A request as read from a client, or why it could not be read. `fatal` errors
/// end the connection.
type Incoming = Result<Request, (String, bool)>;

/// Binds both doors and serves clients until `shutdown` resolves.
pub async fn serve(daemon: Arc<Daemon>, shutdown: impl Future<Output = ()>) -> Result<()> {
    daemon.release_predecessors_mounts().await;
    daemon.refill_spare();
    let config = daemon.config();
    fs::DirBuilder::new().recursive(true).mode(0o700).create(&config.runtime_dir)?;
    make_private(&config.runtime_dir, 0o700)?;
    // The WebSocket's token and port first, the control socket last: whoever
    // waits for the socket (a script, a restarted system UI) then never reads
    // a predecessor's token or port, and finds it listening.
    let token = new_token()?;
    write_private(&config.token_path(), token.as_bytes())?;
    let tcp = TcpListener::bind(("127.0.0.1", config.ws_port))
        .await
        .with_context(|| format!("binding 127.0.0.1:{}", config.ws_port))?;
    let port = tcp.local_addr()?.port();
    write_private(&config.ws_port_path(), port.to_string().as_bytes())?;
    // Bound and listening under a staged name, then renamed into place: the
    // socket's path never exists without a listener behind it.
    let path = config.socket_path();
    let staged = path.with_extension(format!("sock.{}", std::process::id()));
    let _ = fs::remove_file(&staged);
    let unix =
        UnixListener::bind(&staged).with_context(|| format!("binding {}", staged.display()))?;
    make_private(&staged, 0o600)?;
    fs::rename(&staged, &path)
        .with_context(|| format!("moving the socket to {}", path.display()))?;
    let token = Arc::new(token);
    tracing::info!(socket = %path.display(), ws = %format!("127.0.0.1:{port}"), "weft-appd listening");
    // A Type=notify unit starts its dependents now; elsewhere this does nothing.
    if let Err(error) = sd_notify::notify(&[sd_notify::NotifyState::Ready]) {
        tracing::warn!("cannot tell systemd we are ready: {error}");
    }

    let mut ui_channels = daemon.take_ui_channels().context("the server runs once per daemon")?;
    let handshakes = Arc::new(tokio::sync::Semaphore::new(MAX_PENDING_HANDSHAKES));
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            accepted = unix.accept() => match accepted {
                Ok((stream, _)) => {
                    tokio::spawn(serve_operator(Arc::clone(&daemon), stream));
                }
                Err(error) => accept_failed("the operator socket", &error).await,
            },
            Some((session, channel)) = ui_channels.recv() => {
                let stream = channel.set_nonblocking(true).and_then(|()| UnixStream::from_std(channel));
                match stream {
                    Ok(stream) => {
                        let daemon = Arc::clone(&daemon);
                        tokio::spawn(serve_stream(daemon, stream, Authority::SessionUi(session)));
                    }
                    Err(error) => tracing::warn!(session, "cannot serve the app shell's channel: {error}"),
                }
            }
            accepted = tcp.accept() => match accepted {
                Ok((stream, _)) => match Arc::clone(&handshakes).try_acquire_owned() {
                    Ok(permit) => {
                        let (daemon, token) = (Arc::clone(&daemon), Arc::clone(&token));
                        tokio::spawn(serve_websocket(daemon, stream, token, permit));
                    }
                    Err(_) => tracing::warn!(
                        "closed a WebSocket connection: {MAX_PENDING_HANDSHAKES} upgrades are already in progress"
                    ),
                },
                Err(error) => accept_failed("the WebSocket port", &error).await,
            },
            () = &mut shutdown => break,
        }
    }
    daemon.kill_all();
    let _ = fs::remove_file(&path);
    Ok(())
}

/// Logs a failed accept and waits a moment before the next one.
async fn accept_failed(door: &str, error: &std::io::Error) {
    tracing::warn!("accepting on {door}: {error}");
    tokio::time::sleep(ACCEPT_BACKOFF).await;
}

/// 32 random bytes as hex, new at every start.
fn new_token() -> Result<String> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes)
        .map_err(|error| anyhow::anyhow!("no randomness for the WebSocket token: {error}"))?;
    Ok(hex::encode(bytes))
}

/// Replaces `path` with a file of mode 0600 holding `bytes`.
/// Writes `bytes` to `path` (0600) whole or not at all: a reader (the system
/// UI shell reading the port and token) never sees a half-written file.
fn write_private(path: &std::path::Path, bytes: &[u8]) -> Result<()> {
    let mut staged = path.as_os_str().to_owned();
    staged.push(".new");
    let staged = std::path::PathBuf::from(staged);
    let _ = fs::remove_file(&staged);
    let mut file = fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(&staged)?;
    file.write_all(bytes)?;
    fs::rename(&staged, path)?;
    Ok(())
}

/// An operator socket client: peer checks, then MessagePack frames.
async fn serve_operator(daemon: Arc<Daemon>, stream: UnixStream) {
    // Only the session's own user may drive its supervisor, and none of the
    // sessions' own processes: both are dropped before a single byte is read.
    let peer = match stream.peer_cred() {
        Ok(peer) if peer.uid() == rustix::process::getuid().as_raw() => peer,
        Ok(peer) => {
            tracing::warn!(uid = peer.uid(), "refused a client of another user");
            return;
        }
        Err(_) => return,
    };
    let Some(pid) = peer.pid().and_then(|pid| u32::try_from(pid).ok()) else { return };
    if let Some(session) = authority::session_of(pid, &daemon.session_processes()) {
        tracing::warn!(pid, session, "refused a process of a session on the operator socket");
        return;
    }
    serve_stream(daemon, stream, Authority::Operator).await;
}

/// A Unix stream of MessagePack frames, served with `authority`.
async fn serve_stream(daemon: Arc<Daemon>, stream: UnixStream, authority: Authority) {
    let (reader, mut writer) = stream.into_split();
    // A request is read in one system call, its length and body together.
    let mut reader = tokio::io::BufReader::with_capacity(CLIENT_READ_BYTES, reader);
    let (requests, incoming) = mpsc::channel::<Incoming>(CLIENT_QUEUE);
    let (outbox, mut replies) = mpsc::channel::<FromAppd>(CLIENT_QUEUE);
    let reading = tokio::spawn(async move {
        loop {
            let item = match read_frame::<Request>(&mut reader).await {
                Ok(request) => Ok(request),
                Err(FrameError::Closed) => return,
                // The length prefix kept the stream in step: answer and go on.
                Err(error @ FrameError::Malformed(_)) => Err((error.to_string(), false)),
                Err(error) => Err((error.to_string(), true)),
            };
            if !pass_on(&requests, item).await {
                return;
            }
        }
    });
    tokio::spawn(async move {
        while let Some(reply) = replies.recv().await {
            if write_frame(&mut writer, &reply).await.is_err() {
                return;
            }
        }
    });
    serve_client(daemon, incoming, outbox, authority).await;
    // The connection closes now, also when the client never said a word.
    reading.abort();
}

/// A WebSocket client: token and Origin are checked in the HTTP upgrade, so a
/// refused client never gets a WebSocket at all; then JSON text frames.
#[expect(
    clippy::result_large_err,
    reason = "tungstenite fixes the handshake callback's error type"
)]
async fn serve_websocket(
    daemon: Arc<Daemon>,
    stream: TcpStream,
    token: Arc<String>,
    permit: tokio::sync::OwnedSemaphorePermit,
) {
    let origins = daemon.config().ws_origins.clone();
    let check =
        move |request: &HttpRequest, response: Response| -> Result<Response, ErrorResponse> {
            let origin = request.headers().get("origin").and_then(|value| value.to_str().ok());
            if !origin.is_some_and(|origin| origins.iter().any(|allowed| allowed == origin)) {
                tracing::warn!(?origin, "refused a WebSocket from an origin that is not allowed");
                return Err(refusal(StatusCode::FORBIDDEN, "origin not allowed"));
            }
            let presented = request
                .uri()
                .query()
                .and_then(|query| query.split('&').find_map(|pair| pair.strip_prefix("token=")));
            if !presented.is_some_and(|presented| same_secret(presented, &token)) {
                tracing::warn!("refused a WebSocket without the right token");
                return Err(refusal(StatusCode::UNAUTHORIZED, "missing or wrong token"));
            }
            Ok(response)
        };
    let config = WebSocketConfig::default()
        .max_message_size(Some(MAX_FRAME_BYTES))
        .max_frame_size(Some(MAX_FRAME_BYTES));
    let upgrade = tokio_tungstenite::accept_hdr_async_with_config(stream, check, Some(config));
    let Ok(Ok(socket)) = tokio::time::timeout(HANDSHAKE_TIMEOUT, upgrade).await else {
        return;
    };
    drop(permit);
    let (mut sink, mut source) = socket.split();
    let (requests, incoming) = mpsc::channel::<Incoming>(CLIENT_QUEUE);
    let (outbox, mut replies) = mpsc::channel::<FromAppd>(CLIENT_QUEUE);
    let reading = tokio::spawn(async move {
        while let Some(message) = source.next().await {
            let item = match message {
                Ok(Message::Text(text)) => serde_json::from_str::<Request>(&text)
                    .map_err(|error| (format!("malformed message: {error}"), false)),
                Ok(Message::Binary(_)) => Err((
                    "binary frames are not part of the protocol; send JSON text".to_owned(),
                    false,
                )),
                Ok(Message::Close(_)) => return,
                Ok(_) => continue,
                Err(error) => Err((error.to_string(), true)),
            };
            if !pass_on(&requests, item).await {
                return;
            }
        }
    });
    tokio::spawn(async move {
        while let Some(reply) = replies.recv().await {
            let Ok(text) = serde_json::to_string(&reply) else { continue };
            if sink.send(Message::text(text)).await.is_err() {
                return;
            }
        }
    });
    serve_client(daemon, incoming, outbox, Authority::SystemUi).await;
    reading.abort();
}

/// Hands a read request (or read error) to the client loop; false when reading
/// should stop (the loop is gone, or the error was fatal).
async fn pass_on(requests: &mpsc::Sender<Incoming>, item: Incoming) -> bool {
    let fatal = matches!(item, Err((_, true)));
    requests.send(item).await.is_ok() && !fatal
}

fn refusal(status: StatusCode, reason: &str) -> ErrorResponse {
    let mut response = ErrorResponse::new(Some(reason.to_owned()));
    *response.status_mut() = status;
    response
}

/// Compares secrets in time independent of where they differ.
fn same_secret(presented: &str, expected: &str) -> bool {
    presented.len() == expected.len()
        && presented.bytes().zip(expected.bytes()).fold(0u8, |acc, (a, b)| acc | (a ^ b)) == 0
}

/// The protocol, whatever the transport: handshake, then requests and events,
/// each within `authority`.
async fn serve_client(
    daemon: Arc<Daemon>,
    mut incoming: mpsc::Receiver<Incoming>,
    outbox: mpsc::Sender<FromAppd>,
    authority: Authority,
) {
    let error = |code, message: String| Reply::Error { code, message };
    match tokio::time::timeout(HELLO_TIMEOUT, incoming.recv()).await {
        Ok(Some(Ok(Request::Hello { versions }))) if versions.contains(&PROTOCOL_VERSION) => {
            let _ = outbox.send(Reply::Welcome { version: PROTOCOL_VERSION }.into()).await;
        }
        Ok(Some(Ok(Request::Hello { versions }))) => {
            let message = format!(
                "no common protocol version: the client speaks {versions:?}, weft-appd {PROTOCOL_VERSION}"
            );
            let _ = outbox.send(error(ErrorCode::UnsupportedVersion, message).into()).await;
            return;
        }
        _ => {
            let _ = outbox
                .send(
                    error(ErrorCode::BadRequest, "the first message must be HELLO".to_owned())
                        .into(),
                )
                .await;
            return;
        }
    }
    let mut forwarders =
        vec![tokio::spawn(forward_events(daemon.subscribe(), outbox.clone(), move |event| {
            authority.sees(&event).then_some(event)
        }))];
    while let Some(item) = incoming.recv().await {
        if let Ok(request) = &item
            && let Err((code, message)) = authority.check(request)
        {
            tracing::warn!(?authority, "refused: {message}");
            if outbox.send(error(code, message).into()).await.is_err() {
                break;
            }
            continue;
        }
        let reply = match item {
            Ok(Request::QueryLogs { session, follow: true }) => match daemon.logs(session, true) {
                Ok(LogSnapshot { lines, follower, stopped }) => {
                    if outbox.send(Reply::Logs { session, lines }.into()).await.is_err() {
                        break;
                    }
                    if let Some(reason) = stopped
                        && outbox.send(Event::LogsEnd { session, reason }.into()).await.is_err()
                    {
                        break;
                    }
                    if let Some(follower) = follower {
                        forwarders.push(tokio::spawn(forward_events(
                            follower,
                            outbox.clone(),
                            move |(from, item)| match item {
                                _ if from != session => None,
                                LogItem::Line(line) => Some(Event::LogLine { session, line }),
                                LogItem::End(reason) => Some(Event::LogsEnd { session, reason }),
                            },
                        )));
                    }
                    continue;
                }
                Err(Failure { code, message }) => error(code, message),
            },
            Ok(request) => handle(&daemon, request)
                .await
                .unwrap_or_else(|Failure { code, message }| error(code, message)),
            Err((message, fatal)) => {
                let _ = outbox.send(error(ErrorCode::BadRequest, message).into()).await;
                if fatal {
                    break;
                }
                continue;
            }
        };
        if outbox.send(reply.into()).await.is_err() {
            break;
        }
    }
    for forwarder in forwarders {
        forwarder.abort();
    }
}

/// Passes broadcast items `pick` turns into events to one client. A client too
/// slow to keep up misses the oldest ones but stays subscribed.
async fn forward_events<T: Clone>(
    mut items: broadcast::Receiver<T>,
    outbox: mpsc::Sender<FromAppd>,
    pick: impl Fn(T) -> Option<Event>,
) {
    loop {
        match items.recv().await {
            Ok(item) => {
                if let Some(event) = pick(item)
                    && outbox.send(event.into()).await.is_err()
                {
                    return;
                }
            }
            Err(broadcast::error::RecvError::Lagged(missed)) => {
                tracing::warn!(missed, "a slow client missed events");
            }
            Err(broadcast::error::RecvError::Closed) => return,
        }
    }
}

async fn handle(daemon: &Arc<Daemon>, request: Request) -> Result<Reply, Failure> {
    Ok(match request {
        Request::Hello { .. } => Reply::Welcome { version: PROTOCOL_VERSION },
        Request::LaunchApp { app_id } => {
            let session = daemon.launch(&app_id).await?;
            Reply::LaunchAck { session, app_id }
        }
        Request::TerminateApp { session } => {
            daemon.terminate(session)?;
            Reply::Ok
        }
        Request::QueryRunning => Reply::RunningApps { sessions: daemon.running() },
        Request::QueryAppState { session } => daemon.state_of(session)?,
        Request::QueryInstalledApps => {
            let daemon = Arc::clone(daemon);
            let apps = tokio::task::spawn_blocking(move || daemon.installed()).await.map_err(
                |error| Failure { code: ErrorCode::BadRequest, message: error.to_string() },
            )??;
            Reply::InstalledApps { apps }
        }
        Request::IpcForward { session, message } => {
            daemon.forward(session, message).await?;
            Reply::Ok
        }
        Request::AttachUi { session } => {
            Reply::UiAttached { session, backlog: daemon.attach_ui(session)? }
        }
        Request::FocusSession { session } => {
            daemon.focus(session).await?;
            Reply::Ok
        }
        Request::PanelGesture { gesture } => {
            daemon.broadcast(Event::NavigationGesture { gesture });
            Reply::Ok
        }
        Request::QueryLogs { session, .. } => {
            Reply::Logs { session, lines: daemon.logs(session, false)?.lines }
        }
        Request::AllowDowngrade { app_id } => {
            daemon.allow_downgrade(&app_id)?;
            Reply::Ok
        }
    })
}
