//! Headless Chromium from Debian, driven over the DevTools protocol: the
//! shells' pages run in a real browser engine with the same injected bridge
//! script (`Page.addScriptToEvaluateOnNewDocument` stands in for Servo's
//! `UserContentManager`), and what the bridge delivers pushed into the page
//! with the shells' own [`push_script`] (`Runtime.evaluate` stands in for
//! Servo's `evaluate_javascript`).

use std::io::{BufRead, BufReader};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};
use tungstenite::stream::MaybeTlsStream;
use tungstenite::{Message, WebSocket};
use weft_shell_core::bridge::{Bridge, Delivery, push_script, take_batch};

/// One browser with one page.
pub struct Chromium {
    child: Child,
    socket: WebSocket<MaybeTlsStream<TcpStream>>,
    session: String,
    next_id: u64,
    /// Where deliveries for the page come from, and those it has not taken yet.
    deliveries: Option<(Arc<dyn Bridge>, Vec<Delivery>)>,
    _profile: tempfile::TempDir,
}

impl Chromium {
    /// Starts the browser with a `width`×`height` page.
    pub fn start(width: u32, height: u32) -> Self {
        let profile = tempfile::tempdir().unwrap();
        let mut child = Command::new("chromium")
            .args(["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run"])
            .arg("--remote-debugging-port=0")
            .arg(format!("--user-data-dir={}", profile.path().display()))
            .arg(format!("--window-size={width},{height}"))
            .arg("about:blank")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("chromium (tests/install-host-tools.sh installs it)");
        let stderr = BufReader::new(child.stderr.take().unwrap());
        let mut lines = stderr.lines();
        let endpoint = loop {
            let line = lines.next().expect("chromium exited before listening").unwrap();
            if let Some(url) = line.strip_prefix("DevTools listening on ") {
                break url.trim().to_owned();
            }
        };
        // Keep draining stderr so the browser never blocks on it.
        std::thread::spawn(move || lines.for_each(drop));
        let (socket, _) = tungstenite::connect(endpoint.as_str()).expect("the DevTools socket");
        let mut browser = Self {
            child,
            socket,
            session: String::new(),
            next_id: 0,
            deliveries: None,
            _profile: profile,
        };
        let target = browser.call("Target.createTarget", json!({ "url": "about:blank" }));
        let attached = browser.call(
            "Target.attachToTarget",
            json!({ "targetId": target["targetId"], "flatten": true }),
        );
        browser.session = attached["sessionId"].as_str().unwrap().to_owned();
        browser.call("Page.enable", json!({}));
        browser.call("Runtime.enable", json!({}));
        browser
    }

    /// Sends one command (to the page once attached) and returns its result.
    pub fn call(&mut self, method: &str, params: Value) -> Value {
        self.next_id += 1;
        let id = self.next_id;
        let mut command = json!({ "id": id, "method": method, "params": params });
        if !self.session.is_empty() {
            command["sessionId"] = json!(self.session);
        }
        self.socket.send(Message::text(command.to_string())).unwrap();
        loop {
            let Message::Text(text) = self.socket.read().unwrap() else { continue };
            let reply: Value = serde_json::from_str(&text).unwrap();
            if reply["id"] == json!(id) {
                assert!(reply.get("error").is_none(), "{method}: {}", reply["error"]);
                return reply["result"].clone();
            }
        }
    }

    /// Runs `script` in every document before the page's own scripts.
    pub fn inject(&mut self, script: &str) {
        self.call("Page.addScriptToEvaluateOnNewDocument", json!({ "source": script }));
    }

    /// Opens `url` and waits until the document has loaded.
    pub fn open(&mut self, url: &str) {
        self.call("Page.navigate", json!({ "url": url }));
        let loaded = self.wait_for("document.readyState === 'complete'", Duration::from_secs(20));
        assert!(loaded.is_some(), "{url} did not load");
    }

    /// Pushes what `bridge` delivers into the page, as a shell does; it
    /// happens before every [`Chromium::eval`].
    pub fn deliver_from(&mut self, bridge: Arc<dyn Bridge>) {
        self.deliveries = Some((bridge, Vec::new()));
    }

    /// Hands the page what has arrived; kept for later while the page has no
    /// bridge yet (between documents).
    fn push(&mut self) {
        let Some((bridge, pending)) = &mut self.deliveries else { return };
        pending.extend(take_batch(&**bridge, Duration::ZERO));
        if pending.is_empty() {
            return;
        }
        let script = push_script(pending);
        let result = self.call("Runtime.evaluate", json!({ "expression": script }));
        if result.get("exceptionDetails").is_none()
            && let Some((_, pending)) = &mut self.deliveries
        {
            pending.clear();
        }
    }

    /// Evaluates `expression` in the page (promises awaited) and returns its value.
    pub fn eval(&mut self, expression: &str) -> Value {
        self.push();
        let result = self.call(
            "Runtime.evaluate",
            json!({ "expression": expression, "returnByValue": true, "awaitPromise": true }),
        );
        assert!(
            result.get("exceptionDetails").is_none(),
            "{expression}: {}",
            result["exceptionDetails"]
        );
        result["result"]["value"].clone()
    }

    /// Evaluates `expression` until it is truthy (its value) or `timeout` passes.
    pub fn wait_for(&mut self, expression: &str, timeout: Duration) -> Option<Value> {
        super::eventually(timeout, || {
            let value = self.eval(expression);
            let truthy = !matches!(value, Value::Null | Value::Bool(false))
                && value != json!(0)
                && value != json!("");
            truthy.then_some(value)
        })
    }
}

impl Drop for Chromium {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
