//! The control socket: one task per client connection.

use std::fs;
use std::os::unix::fs::DirBuilderExt;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::mpsc;
use weft_protocol::appd::{
    ErrorCode, FrameError, PROTOCOL_VERSION, Reply, Request, read_frame, write_frame,
};

use crate::daemon::{Daemon, Failure, make_private};

/// How long a new client has to say HELLO.
const HELLO_TIMEOUT: Duration = Duration::from_secs(5);
/// Replies and events queued for a slow client before it is disconnected.
const CLIENT_QUEUE: usize = 256;

/// Binds the control socket (0600, in a 0700 directory) and serves clients
/// until `shutdown` resolves.
pub async fn serve(daemon: Arc<Daemon>, shutdown: impl Future<Output = ()>) -> Result<()> {
    let config = daemon.config();
    fs::DirBuilder::new().recursive(true).mode(0o700).create(&config.runtime_dir)?;
    make_private(&config.runtime_dir, 0o700)?;
    let path = config.socket_path();
    let _ = fs::remove_file(&path);
    let listener =
        UnixListener::bind(&path).with_context(|| format!("binding {}", path.display()))?;
    make_private(&path, 0o600)?;
    tracing::info!(socket = %path.display(), "weft-appd listening");
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let Ok((stream, _)) = accepted else { continue };
                let daemon = Arc::clone(&daemon);
                tokio::spawn(async move {
                    if let Err(error) = serve_client(daemon, stream).await {
                        tracing::debug!("client connection ended: {error:#}");
                    }
                });
            }
            () = &mut shutdown => break,
        }
    }
    daemon.kill_all();
    let _ = fs::remove_file(&path);
    Ok(())
}

/// One client: peer check, version handshake, then requests and events.
async fn serve_client(daemon: Arc<Daemon>, stream: UnixStream) -> Result<()> {
    // Only the session's own user may drive its supervisor; others are dropped
    // before a single byte is read.
    let peer = stream.peer_cred()?;
    if peer.uid() != rustix::process::getuid().as_raw() {
        tracing::warn!(uid = peer.uid(), "refused a client of another user");
        return Ok(());
    }
    let (mut reader, mut writer) = stream.into_split();
    match tokio::time::timeout(HELLO_TIMEOUT, read_frame::<Request>(&mut reader)).await {
        Ok(Ok(Request::Hello { versions })) if versions.contains(&PROTOCOL_VERSION) => {
            write_frame(&mut writer, &Reply::Welcome { version: PROTOCOL_VERSION }).await?;
        }
        Ok(Ok(Request::Hello { versions })) => {
            let message = format!(
                "no common protocol version: the client speaks {versions:?}, weft-appd {PROTOCOL_VERSION}"
            );
            write_frame(
                &mut writer,
                &Reply::Error { code: ErrorCode::UnsupportedVersion, message },
            )
            .await?;
            return Ok(());
        }
        _ => {
            let message = "the first message must be HELLO".to_owned();
            let _ =
                write_frame(&mut writer, &Reply::Error { code: ErrorCode::BadRequest, message })
                    .await;
            return Ok(());
        }
    }

    let (outbox, mut queue) = mpsc::channel::<Reply>(CLIENT_QUEUE);
    let mut events = daemon.subscribe();
    let forwarder = outbox.clone();
    let events_task = tokio::spawn(async move {
        while let Ok(event) = events.recv().await {
            if forwarder.send(event).await.is_err() {
                return;
            }
        }
    });
    let writer_task = tokio::spawn(async move {
        while let Some(reply) = queue.recv().await {
            if write_frame(&mut writer, &reply).await.is_err() {
                return;
            }
        }
    });

    let result = loop {
        let request = match read_frame::<Request>(&mut reader).await {
            Ok(request) => request,
            Err(FrameError::Closed) => break Ok(()),
            Err(error @ FrameError::Malformed(_)) => {
                // The length prefix kept the stream in step: answer and go on.
                let _ = outbox
                    .send(Reply::Error { code: ErrorCode::BadRequest, message: error.to_string() })
                    .await;
                continue;
            }
            Err(error) => {
                let _ = outbox
                    .send(Reply::Error { code: ErrorCode::BadRequest, message: error.to_string() })
                    .await;
                break Err(error.into());
            }
        };
        let reply = handle(&daemon, request)
            .await
            .unwrap_or_else(|Failure { code, message }| Reply::Error { code, message });
        if outbox.send(reply).await.is_err() {
            break Ok(());
        }
    };
    events_task.abort();
    drop(outbox);
    let _ = writer_task.await;
    result
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
        Request::PanelGesture { gesture } => {
            daemon.broadcast(Reply::NavigationGesture { gesture });
            Reply::Ok
        }
    })
}
