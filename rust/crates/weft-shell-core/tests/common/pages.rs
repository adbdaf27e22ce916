//! A page served over HTTP on 127.0.0.1 the way the shells' scheme handler
//! serves it in Servo: files through [`AppFiles`], the bridge endpoint
//! through [`bridge::answer`] (what comes back, [`super::chromium::Chromium`]
//! pushes as the shells do). Chromium cannot open `weft-app://`, so this is
//! how the pages run in a real browser in the default test suite.

use std::sync::Arc;

use weft_shell_core::bridge::{self, Bridge};
use weft_shell_core::scheme::AppFiles;

/// A running page server.
pub struct PageServer {
    server: Arc<tiny_http::Server>,
    /// The entry page's URL.
    pub entry: String,
}

impl PageServer {
    /// Serves `files`, with `bridge` at `endpoint`.
    pub fn start(files: AppFiles, endpoint: &'static str, bridge: Arc<dyn Bridge>) -> Self {
        let server = Arc::new(tiny_http::Server::http("127.0.0.1:0").unwrap());
        let port = server.server_addr().to_ip().unwrap().port();
        let origin = files.origin();
        // The entry's path below the origin (`/ui/index.html`).
        let entry = format!("http://127.0.0.1:{port}{}", &files.entry_url()[origin.len()..]);
        let files = Arc::new(files);
        let accepting = Arc::clone(&server);
        std::thread::spawn(move || {
            for request in accepting.incoming_requests() {
                let (files, bridge, origin) =
                    (Arc::clone(&files), Arc::clone(&bridge), origin.clone());
                std::thread::spawn(move || respond(request, &files, endpoint, &*bridge, &origin));
            }
        });
        Self { server, entry }
    }
}

impl Drop for PageServer {
    fn drop(&mut self) {
        self.server.unblock();
    }
}

fn respond(
    request: tiny_http::Request,
    files: &AppFiles,
    endpoint: &str,
    bridge: &dyn Bridge,
    origin: &str,
) {
    let url = url::Url::parse(&format!("http://page{}", request.url())).unwrap();
    let (status, content_type, body) = if url.path() == endpoint {
        let message = url
            .query_pairs()
            .find(|(key, _)| key == "m")
            .map(|(_, value)| value.into_owned())
            .unwrap_or_default();
        let method = request.method().as_str().to_owned();
        let answer = bridge::answer(bridge, &method, message.as_bytes());
        (answer.status, answer.content_type, answer.body)
    } else {
        match files.serve(&format!("{origin}{}", request.url())) {
            Ok(served) => (200, served.mime, served.body),
            Err(_) => (404, "text/plain".to_owned(), b"not found".to_vec()),
        }
    };
    let header = tiny_http::Header::from_bytes("Content-Type", content_type).unwrap();
    let response =
        tiny_http::Response::from_data(body).with_status_code(status).with_header(header);
    let _ = request.respond(response);
}
