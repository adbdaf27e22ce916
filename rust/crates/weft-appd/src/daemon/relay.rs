//! A session's traffic: its output into the log ring, its channel's messages
//! out as events (within the rate limits) and the UI's messages in.

use super::*;

impl Daemon {
    /// Keeps a line of a session's output and sends it to its followers.
    fn log(&self, session: u64, stream: LogStream, text: &[u8]) {
        let mut sessions = self.sessions.lock().expect("sessions lock");
        let Some(record) = sessions.get_mut(&session) else { return };
        let line = LogLine {
            at_ms: record.started.elapsed().as_millis() as u64,
            stream,
            text: String::from_utf8_lossy(text).into_owned(),
        };
        tracing::debug!(session, app = %record.app_id, ?stream, "{}", line.text);
        if record.logs.len() == MAX_LOG_LINES {
            record.logs.pop_front();
        }
        record.logs.push_back(line.clone());
        let _ = self.log_lines.send((session, LogItem::Line(line)));
    }

    /// Reads one output stream of a run into the session's log. On stdout the
    /// first `READY` line is the readiness signal, sent on `ready`.
    pub(super) async fn pump_output(
        self: Arc<Self>,
        session: u64,
        stream: LogStream,
        output: impl tokio::io::AsyncRead + Unpin,
        mut ready: Option<oneshot::Sender<()>>,
    ) {
        let mut output = BufReader::with_capacity(OUTPUT_READ_BYTES, output);
        let mut line = Vec::new();
        loop {
            match read_bounded_line(&mut output, MAX_LOG_LINE_BYTES, &mut line).await {
                Ok(BoundedLine::End) | Err(_) => return,
                Ok(_) if ready.is_some() && line == weft_protocol::runtime::READY_LINE => {
                    let _ = ready.take().map(|ready| ready.send(()));
                }
                Ok(_) => self.log(session, stream, &line),
            }
        }
    }

    /// Carries one session's channel: app messages out as events (within the
    /// rate limits), clipboard requests answered. Returns when the channel ends.
    pub(super) async fn relay(self: Arc<Self>, session: u64, listener: UnixListener) {
        let Ok((stream, _)) = listener.accept().await else { return };
        drop(listener);
        let (reader, writer) = stream.into_split();
        let writer = Arc::new(tokio::sync::Mutex::new(writer));
        let Some(app_id) = self.with_session(session, |record| {
            record.channel = Some(Arc::clone(&writer));
            // A new run gets a new UI (its app shell starts after READY).
            record.ui_attached = false;
            record.ui_backlog.clear();
            record.app_id.clone()
        }) else {
            return;
        };
        let mut ipc_rate = RateLimit::new(IPC_BURST, IPC_PER_SECOND);
        let mut notify_rate = RateLimit::new(NOTIFY_BURST, NOTIFY_PER_SECOND);
        let mut reader = BufReader::with_capacity(CHANNEL_READ_BYTES, reader);
        loop {
            let reply = match read_message_async::<FromApp>(&mut reader).await {
                Ok(FromApp::Ipc { message }) => {
                    if ipc_rate.allow() {
                        let seq = self.with_session(session, |record| {
                            record.ipc_to_ui += 1;
                            let seq = record.ipc_to_ui;
                            if !record.ui_attached {
                                if record.ui_backlog.len() == UI_BACKLOG {
                                    record.ui_backlog.pop_front();
                                }
                                let queued = QueuedMessage { seq, message: message.clone() };
                                record.ui_backlog.push_back(queued);
                            }
                            seq
                        });
                        let seq = seq.unwrap_or_default();
                        self.broadcast(Event::IpcMessage { session, message, seq });
                    } else {
                        tracing::warn!(session, app = %app_id, "IPC message over the rate limit dropped");
                    }
                    None
                }
                Ok(FromApp::Notification { title, body }) => {
                    if notify_rate.allow() {
                        // What the user reads shows exactly what it says:
                        // reordering and invisible characters become U+FFFD.
                        let shown = |text: &str| {
                            weft_manifest::neutralise_shown_text(
                                text,
                                weft_manifest::Shown::Message,
                            )
                        };
                        self.broadcast(Event::Notification {
                            session,
                            app_id: app_id.clone(),
                            title: shown(&title),
                            body: shown(&body),
                        });
                    } else {
                        tracing::warn!(session, app = %app_id, "notification over the rate limit dropped");
                    }
                    None
                }
                Ok(FromApp::ClipboardRead { id }) => Some(ToApp::ClipboardText {
                    id,
                    text: self.clipboard.lock().expect("clipboard lock").clone(),
                }),
                Ok(FromApp::ClipboardWrite { id, text }) => {
                    *self.clipboard.lock().expect("clipboard lock") = Some(text);
                    Some(ToApp::Done { id, error: None })
                }
                Ok(FromApp::Error { message }) => {
                    tracing::warn!(session, app = %app_id, "the runtime reports: {message}");
                    None
                }
                Err(SessionFrameError::Closed | SessionFrameError::Io(_)) => return,
                Err(error) => {
                    tracing::warn!(session, app = %app_id, "unreadable message from the runtime: {error}");
                    None
                }
            };
            if let Some(reply) = reply
                && send_line(&writer, &reply).await.is_err()
            {
                return;
            }
        }
    }

    /// Sends a UI message to a running session's app.
    pub async fn forward(&self, session: u64, message: String) -> Result<(), Failure> {
        if message.len() > MAX_IPC_MESSAGE_BYTES {
            return Err(Failure::new(
                ErrorCode::BadRequest,
                format!(
                    "the message is {} bytes; the limit is {MAX_IPC_MESSAGE_BYTES}",
                    message.len()
                ),
            ));
        }
        let channel = self
            .with_session(session, |record| {
                let channel = record.channel.clone().ok_or_else(|| {
                    Failure::new(
                        ErrorCode::InvalidState,
                        format!("session {session} has no open channel"),
                    )
                })?;
                if !record.forward_rate.allow() {
                    return Err(Failure::new(
                        ErrorCode::RateLimited,
                        format!(
                            "session {session}: more than {IPC_BURST} messages at once or \
                             {IPC_PER_SECOND} per second; message dropped"
                        ),
                    ));
                }
                record.ipc_to_app += 1;
                Ok(channel)
            })
            .ok_or_else(|| no_session(session))??;
        send_line(&channel, &ToApp::Ipc { message }).await.map_err(|error| {
            Failure::new(ErrorCode::InvalidState, format!("session {session}: {error}"))
        })
    }
}

async fn send_line(
    writer: &tokio::sync::Mutex<OwnedWriteHalf>,
    message: &ToApp,
) -> std::io::Result<()> {
    let mut line = serde_json::to_vec(message).map_err(std::io::Error::other)?;
    line.push(b'\n');
    writer.lock().await.write_all(&line).await
}
