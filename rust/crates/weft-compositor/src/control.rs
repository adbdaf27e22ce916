//! The control socket weft-appd talks to (`weft_protocol::compositor`): each
//! connection gets a thread that turns requests into [`Command`]s, and another
//! that passes the sessions' window events back.

use std::io;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::time::Duration;

use smithay::reexports::calloop::channel;
use weft_protocol::compositor::{
    CONTROL_PROTOCOL_VERSION, ControlEvent, ControlReply, ControlRequest, FromCompositor,
};
use weft_protocol::frame::{FrameError, read_frame_sync, write_frame_sync};

use crate::server::Command;
use crate::state::ShellEvent;

/// How long a request may wait for the compositor's answer.
const ANSWER_TIMEOUT: Duration = Duration::from_secs(10);

/// Binds the control socket at `path` (0600) and serves it on a thread.
pub fn serve(path: &Path, commands: channel::Sender<Command>) -> io::Result<()> {
    let _ = std::fs::remove_file(path);
    let listener = UnixListener::bind(path)?;
    std::fs::set_permissions(path, std::os::unix::fs::PermissionsExt::from_mode(0o600))?;
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(stream) = stream else { continue };
            // Only the compositor's own user may drive it.
            let same_user = rustix::net::sockopt::socket_peercred(&stream)
                .is_ok_and(|peer| peer.uid == rustix::process::getuid());
            if !same_user {
                tracing::warn!("refused a control client of another user");
                continue;
            }
            let commands = commands.clone();
            std::thread::spawn(move || {
                if let Err(error) = serve_connection(stream, commands) {
                    tracing::info!("control connection ended: {error}");
                }
            });
        }
    });
    Ok(())
}

fn send(writer: &Mutex<UnixStream>, message: impl Into<FromCompositor>) -> Result<(), FrameError> {
    write_frame_sync(&mut *writer.lock().expect("control writer"), &message.into())
}

/// Asks the compositor something and waits for the answer.
fn ask<T>(
    commands: &channel::Sender<Command>,
    command: impl FnOnce(mpsc::Sender<T>) -> Command,
) -> Result<T, String> {
    let (reply, answer) = mpsc::channel();
    commands.send(command(reply)).map_err(|_| "the compositor stopped".to_owned())?;
    answer.recv_timeout(ANSWER_TIMEOUT).map_err(|_| "the compositor did not answer".to_owned())
}

fn serve_connection(
    stream: UnixStream,
    commands: channel::Sender<Command>,
) -> Result<(), FrameError> {
    let mut reader = stream.try_clone()?;
    let writer = Arc::new(Mutex::new(stream));
    match read_frame_sync::<ControlRequest>(&mut reader)? {
        ControlRequest::Hello { versions } if versions.contains(&CONTROL_PROTOCOL_VERSION) => {
            send(&writer, ControlReply::Welcome { version: CONTROL_PROTOCOL_VERSION })?;
        }
        _ => {
            let message =
                format!("the first message must be HELLO with version {CONTROL_PROTOCOL_VERSION}");
            return send(&writer, ControlReply::Error { message });
        }
    }
    // Window events of sessions, for as long as the connection lives: the
    // subscription ends with it, which ends the thread passing them on.
    static NEXT_SUBSCRIPTION: AtomicU64 = AtomicU64::new(0);
    let subscription = NEXT_SUBSCRIPTION.fetch_add(1, Ordering::Relaxed);
    let (events, received) = mpsc::channel();
    let _ = commands.send(Command::Subscribe(subscription, events));
    let event_writer = Arc::clone(&writer);
    std::thread::spawn(move || {
        for event in received {
            let reply = match event {
                ShellEvent::WindowOpened { window, session: Some(session), .. } => {
                    ControlEvent::WindowOpened { session, window }
                }
                ShellEvent::WindowClosed { window, session: Some(session), .. } => {
                    ControlEvent::WindowClosed { session, window }
                }
                _ => continue,
            };
            if send(&event_writer, reply).is_err() {
                return;
            }
        }
    });
    let served = serve_requests(&mut reader, &writer, &commands);
    let _ = commands.send(Command::Unsubscribe(subscription));
    served
}

/// Answers requests until the connection ends.
fn serve_requests(
    reader: &mut UnixStream,
    writer: &Mutex<UnixStream>,
    commands: &channel::Sender<Command>,
) -> Result<(), FrameError> {
    loop {
        let request = match read_frame_sync::<ControlRequest>(reader) {
            Ok(request) => request,
            Err(FrameError::Malformed(message)) => {
                send(
                    writer,
                    ControlReply::Error { message: format!("malformed request: {message}") },
                )?;
                continue;
            }
            Err(error) => return Err(error),
        };
        let reply = match request {
            ControlRequest::Hello { .. } => {
                ControlReply::Welcome { version: CONTROL_PROTOCOL_VERSION }
            }
            ControlRequest::OpenSession { session, app_id } => {
                match ask(commands, |reply| Command::OpenSession { session, app_id, reply }) {
                    Ok(Ok(path)) => ControlReply::SessionOpened {
                        session,
                        wayland_display: path.display().to_string(),
                    },
                    Ok(Err(message)) | Err(message) => ControlReply::Error { message },
                }
            }
            ControlRequest::CloseSession { session, reason } => {
                match commands.send(Command::CloseSession(session, reason)) {
                    Ok(()) => ControlReply::Ok,
                    Err(_) => ControlReply::Error { message: "the compositor stopped".to_owned() },
                }
            }
            ControlRequest::FocusSession { session } => {
                match ask(commands, |reply| Command::FocusSession(session, reply)) {
                    Ok(true) => ControlReply::Ok,
                    Ok(false) => ControlReply::Error {
                        message: format!("session {session} has no window to focus"),
                    },
                    Err(message) => ControlReply::Error { message },
                }
            }
            ControlRequest::Screenshot { path } => match ask(commands, Command::Screenshot) {
                Ok(Ok(screenshot)) => match screenshot
                    .to_png()
                    .map(|png| std::fs::write(&path, png))
                {
                    Ok(Ok(())) => ControlReply::Ok,
                    Ok(Err(error)) => {
                        ControlReply::Error { message: format!("writing {path}: {error}") }
                    }
                    Err(error) => ControlReply::Error { message: format!("encoding: {error:#}") },
                },
                Ok(Err(error)) => ControlReply::Error { message: format!("{error:#}") },
                Err(message) => ControlReply::Error { message },
            },
        };
        send(writer, reply)?;
    }
}
