//! How a page in a shell talks to the world outside its web view. Servo 0.7
//! has no postMessage-to-embedder API, so the shell injects a small script
//! ([`user_script`]) that gives the page a global object (`weftIpc` in an
//! app's page, `weftAppd` in the system UI) and carries its messages over
//! `fetch()` to an endpoint of the shell's own scheme ([`IPC_PATH`],
//! [`APPD_PATH`]): a `POST` sends one message (in the query, `?m=…`: Servo
//! 0.7's scheme handlers cannot read request bodies). What comes back is
//! pushed: the shell evaluates [`push_script`] in the page as soon as it
//! arrives (no polling). [`answer`] is the endpoint; a [`Bridge`] is what
//! stands behind it (an app's session relay, [`crate::ipc::IpcBridge`], or
//! weft-appd's WebSocket, [`crate::appd::AppdSocket`]).
//!
//! Nothing is dropped silently: a refused message rejects the page's
//! `send()` promise with the reason, and messages that arrive before the page
//! sets `onmessage` wait for it.

use std::time::Duration;

/// The app page's endpoint (`weft-app://<id>/.weft/ipc`).
pub const IPC_PATH: &str = "/.weft/ipc";
/// The system UI's endpoint (`weft://system/.weft/appd`).
pub const APPD_PATH: &str = "/.weft/appd";
/// At most this many deliveries go into one [`push_script`].
pub const MAX_BATCH: usize = 256;

/// What comes back to the page.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Delivery {
    /// A message for the page.
    Message(String),
    /// The other side refused something the page sent (its reason).
    Refused(String),
    /// The other side ended (its reason); nothing more will come.
    Stopped(String),
}

/// Why a message did not go, or the bridge ended.
#[derive(Debug, thiserror::Error)]
pub enum BridgeError {
    /// weft-appd could not be reached.
    #[error(transparent)]
    Connect(#[from] weft_protocol::appd_client::ClientError),
    /// weft-appd's WebSocket could not be reached or refused the shell.
    #[error("weft-appd's WebSocket: {0}")]
    WebSocket(String),
    /// The message is over the bridge's size limit.
    #[error("a message of {size} bytes is larger than the limit of {limit}")]
    TooLarge {
        /// The message's size.
        size: usize,
        /// The bridge's limit.
        limit: usize,
    },
    /// More messages than the other side takes; try again later.
    #[error("too many messages: at most {per_second} a second after a burst of {burst}")]
    RateLimited {
        /// Messages allowed at once.
        burst: u32,
        /// Messages allowed a second after that.
        per_second: u32,
    },
    /// The other side ended or the connection closed.
    #[error("the channel is closed: {0}")]
    Closed(String),
}

/// What stands behind a page's endpoint.
pub trait Bridge: Send + Sync {
    /// Sends `message`, or says why not.
    fn send(&self, message: String) -> Result<(), BridgeError>;
    /// The next delivery, waiting up to `timeout`.
    fn recv(&self, timeout: Duration) -> Option<Delivery>;
}

/// The endpoint's answer: an HTTP status, a content type and a body.
#[derive(Debug, PartialEq, Eq)]
pub struct Answer {
    /// The HTTP status.
    pub status: u16,
    /// The body's MIME type.
    pub content_type: String,
    /// The body.
    pub body: Vec<u8>,
}

impl Answer {
    fn text(status: u16, text: impl Into<String>) -> Self {
        let content_type = "text/plain; charset=utf-8".to_owned();
        Self { status, content_type, body: text.into().into_bytes() }
    }
}

/// Answers one request to a bridge endpoint: `POST` sends `message` (UTF-8
/// text, the page's `?m=` query parameter, decoded) and answers 204, or 400,
/// 413, 429 or 410 with the reason; any other method gets 405.
pub fn answer(bridge: &dyn Bridge, method: &str, message: &[u8]) -> Answer {
    if method != "POST" {
        return Answer::text(405, format!("{method} is not POST (what comes back is pushed)"));
    }
    let Ok(message) = std::str::from_utf8(message) else {
        return Answer::text(400, "a message must be UTF-8 text");
    };
    match bridge.send(message.to_owned()) {
        Ok(()) => Answer::text(204, ""),
        Err(error @ BridgeError::TooLarge { .. }) => Answer::text(413, error.to_string()),
        Err(error @ BridgeError::RateLimited { .. }) => Answer::text(429, error.to_string()),
        Err(error) => Answer::text(410, error.to_string()),
    }
}

/// The message a request for `url` carries to the endpoint at `endpoint` (the
/// endpoint's full URL, such as `weft-app://<id>/.weft/ipc`): its `m` query
/// parameter, form-decoded (empty when there is none). `None` when `url` is
/// not the endpoint, with or without a query: a longer path, a fragment or
/// another origin is a file request, never a message.
pub fn endpoint_message(endpoint: &str, url: &str) -> Option<String> {
    let rest = url.strip_prefix(endpoint)?;
    let query = match rest.strip_prefix('?') {
        // A fragment is the page's own, never part of the message.
        Some(query) => query.split_once('#').map_or(query, |(query, _)| query),
        None if rest.is_empty() => "",
        None => return None,
    };
    let message = url::form_urlencoded::parse(query.as_bytes())
        .find(|(key, _)| key == "m")
        .map(|(_, value)| value.into_owned())
        .unwrap_or_default();
    Some(message)
}

/// Takes what has arrived from `bridge`, in order: the first delivery waits
/// up to `wait`, the rest only if already there; at most [`MAX_BATCH`], and
/// nothing after a [`Delivery::Stopped`].
pub fn take_batch(bridge: &dyn Bridge, wait: Duration) -> Vec<Delivery> {
    let mut batch = Vec::new();
    let mut next = bridge.recv(wait);
    while let Some(delivery) = next {
        let ended = matches!(delivery, Delivery::Stopped(_));
        batch.push(delivery);
        if ended || batch.len() == MAX_BATCH {
            break;
        }
        next = bridge.recv(Duration::ZERO);
    }
    batch
}

/// The script that hands `batch` to the page (its bridge's `__weftPush`,
/// defined by [`user_script`]): evaluated by the shell, it returns how many
/// deliveries the page took.
pub fn push_script(batch: &[Delivery]) -> String {
    let items: Vec<serde_json::Value> = batch
        .iter()
        .map(|delivery| match delivery {
            Delivery::Message(text) => serde_json::json!({ "message": text }),
            Delivery::Refused(reason) => serde_json::json!({ "refused": reason }),
            Delivery::Stopped(reason) => serde_json::json!({ "stopped": reason }),
        })
        .collect();
    format!("__weftPush({})", serde_json::Value::Array(items))
}

/// The script a shell injects into every page before the page's own: it
/// defines `window[global]` with `send(message) -> Promise`, `onmessage`,
/// `onrefused` and `onstop`, carried over `path`.
pub fn user_script(global: &str, path: &str) -> String {
    let quote = |text: &str| serde_json::to_string(text).expect("strings serialise");
    format!("{BRIDGE_JS}\n__weftBridge({}, {});\n", quote(global), quote(path))
}

/// The bridge's page side (see [`user_script`]).
const BRIDGE_JS: &str = include_str!("bridge.js");

#[cfg(test)]
mod tests {
    use std::sync::Mutex;
    use std::sync::mpsc;

    use super::*;

    #[test]
    fn only_the_endpoint_carries_a_message_and_it_arrives_decoded() {
        let endpoint = "weft-app://org.weft.hello/.weft/ipc";
        let at = |rest: &str| endpoint_message(endpoint, &format!("{endpoint}{rest}"));
        assert_eq!(at("?m=hi%20there%2B%E2%82%AC"), Some("hi there+€".to_owned()));
        assert_eq!(at("?x=1&m=a+b&m=second"), Some("a b".to_owned()));
        assert_eq!(at("?m=one#fragment"), Some("one".to_owned()));
        assert_eq!(at(""), Some(String::new()));
        for other in ["/more", "s?m=x", "#m=x", "/?m=x"] {
            assert_eq!(at(other), None, "{other}");
        }
        assert_eq!(endpoint_message(endpoint, "weft-app://org.weft.evil/.weft/ipc?m=x"), None);
    }

    /// A bridge that records what is sent and hands out what a test queued.
    struct Recorder {
        sent: Mutex<Vec<String>>,
        refuse: Option<fn() -> BridgeError>,
        queued: Mutex<mpsc::Receiver<Delivery>>,
    }

    impl Bridge for Recorder {
        fn send(&self, message: String) -> Result<(), BridgeError> {
            if let Some(refusal) = self.refuse {
                return Err(refusal());
            }
            self.sent.lock().unwrap().push(message);
            Ok(())
        }

        fn recv(&self, timeout: Duration) -> Option<Delivery> {
            self.queued.lock().unwrap().recv_timeout(timeout).ok()
        }
    }

    fn recorder(refuse: Option<fn() -> BridgeError>) -> (Recorder, mpsc::Sender<Delivery>) {
        let (queue, queued) = mpsc::channel();
        let bridge = Recorder { sent: Mutex::default(), refuse, queued: Mutex::new(queued) };
        (bridge, queue)
    }

    #[test]
    fn a_post_sends_its_body_and_refusals_get_their_status_and_reason() {
        let (bridge, _queue) = recorder(None);
        assert_eq!(answer(&bridge, "POST", b"WEFT").status, 204);
        assert_eq!(*bridge.sent.lock().unwrap(), ["WEFT"]);
        assert_eq!(answer(&bridge, "POST", b"\xff").status, 400);
        assert_eq!(answer(&bridge, "GET", b"").status, 405);
        let refusals: [(fn() -> BridgeError, u16); 3] = [
            (|| BridgeError::TooLarge { size: 70_000, limit: 65_536 }, 413),
            (|| BridgeError::RateLimited { burst: 1000, per_second: 500 }, 429),
            (|| BridgeError::Closed("finished".into()), 410),
        ];
        for (refusal, status) in refusals {
            let (bridge, _queue) = recorder(Some(refusal));
            let answered = answer(&bridge, "POST", b"x");
            assert_eq!(answered.status, status);
            assert_eq!(String::from_utf8(answered.body).unwrap(), refusal().to_string());
        }
    }

    #[test]
    fn a_batch_is_what_arrived_in_order_and_stops_at_the_end() {
        let (bridge, queue) = recorder(None);
        assert!(take_batch(&bridge, Duration::from_millis(10)).is_empty());
        for delivery in [
            Delivery::Message("one".into()),
            Delivery::Refused("rate-limited".into()),
            Delivery::Message("<two>\u{2028}".into()),
            Delivery::Stopped("finished".into()),
            Delivery::Message("after the end".into()),
        ] {
            queue.send(delivery).unwrap();
        }
        let batch = take_batch(&bridge, Duration::ZERO);
        assert_eq!(batch.len(), 4, "{batch:?}");
        let script = push_script(&batch);
        let items: serde_json::Value = serde_json::from_str(
            script.strip_prefix("__weftPush(").unwrap().strip_suffix(')').unwrap(),
        )
        .unwrap();
        assert_eq!(
            items,
            serde_json::json!([
                {"message": "one"}, {"refused": "rate-limited"}, {"message": "<two>\u{2028}"},
                {"stopped": "finished"}
            ])
        );
        assert_eq!(
            take_batch(&bridge, Duration::ZERO),
            [Delivery::Message("after the end".into())]
        );
    }

    #[test]
    fn a_batch_holds_at_most_max_batch() {
        let (bridge, queue) = recorder(None);
        for n in 0..MAX_BATCH + 3 {
            queue.send(Delivery::Message(n.to_string())).unwrap();
        }
        assert_eq!(take_batch(&bridge, Duration::ZERO).len(), MAX_BATCH);
        assert_eq!(take_batch(&bridge, Duration::ZERO).len(), 3);
    }

    #[test]
    fn the_user_script_names_its_global_and_path_as_json_strings() {
        let script = user_script("weftIpc", IPC_PATH);
        assert!(script.ends_with("__weftBridge(\"weftIpc\", \"/.weft/ipc\");\n"), "{script}");
        assert!(user_script("a\"b", "/x").contains(r#"__weftBridge("a\"b", "/x")"#));
    }
}
