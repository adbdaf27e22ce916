//! The shell's scheme handler for Servo: files from [`AppFiles`] (the app's
//! read-only package, or the system UI's directory) and the page's bridge
//! endpoint ([`weft_shell_core::bridge::answer`], page to host; host to page
//! is pushed by [`crate::host`]). Everything else is a 404.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use servo::protocol_handler::{
    DoneChannel, FetchContext, HttpStatus, ProtocolHandler, Request, ResourceFetchTiming, Response,
    ResponseBody,
};
use weft_shell_core::bridge::{Answer, Bridge, answer, endpoint_message};
use weft_shell_core::scheme::AppFiles;

/// Serves one shell's pages and its bridge endpoint.
pub struct ShellScheme {
    files: AppFiles,
    /// The endpoint's URL (`weft-app://<id>/.weft/ipc`) and what stands behind it.
    endpoint: Option<(String, Arc<dyn Bridge>)>,
}

impl ShellScheme {
    /// Serves `files`, and `bridge` at `path` when given.
    pub fn new(files: AppFiles, endpoint: Option<(&'static str, Arc<dyn Bridge>)>) -> Self {
        let endpoint = endpoint.map(|(path, bridge)| (format!("{}{path}", files.origin()), bridge));
        Self { files, endpoint }
    }
}

impl ProtocolHandler for ShellScheme {
    fn load(
        &self,
        request: &mut Request,
        _done: &mut DoneChannel,
        _context: &FetchContext,
    ) -> Pin<Box<dyn Future<Output = Response> + Send>> {
        let url = request.current_url();
        let timing = ResourceFetchTiming::new(request.timing_type());
        let respond = move |answer: Answer| {
            let mut response = Response::new(url, timing);
            response.status = HttpStatus::new_raw(answer.status, Vec::new());
            if let Ok(value) = answer.content_type.parse::<http::HeaderValue>() {
                response.headers.insert("content-type", value);
            }
            *response.body.lock() = ResponseBody::Done(answer.body);
            response
        };
        let raw = request.current_url();
        if let Some((endpoint, bridge)) = &self.endpoint
            && let Some(message) = endpoint_message(endpoint, raw.as_str())
        {
            // Sending never waits (what comes back is pushed): answer at once.
            let answered = answer(&**bridge, request.method.as_str(), message.as_bytes());
            return Box::pin(std::future::ready(respond(answered)));
        }
        let answered = match self.files.serve(raw.as_str()) {
            Ok(served) => Answer { status: 200, content_type: served.mime, body: served.body },
            Err(not_found) => {
                tracing::info!("404 {}: {not_found}", raw.as_str());
                Answer {
                    status: 404,
                    content_type: "text/plain".into(),
                    body: b"not found".to_vec(),
                }
            }
        };
        Box::pin(std::future::ready(respond(answered)))
    }

    fn is_fetchable(&self) -> bool {
        true
    }

    fn is_secure(&self) -> bool {
        true
    }

    /// This handler decides itself what it serves (its own origin's files and
    /// bridge endpoint; 404 for the rest), so the page's requests to it need
    /// not wait for the shell's thread, which is busy while it paints.
    fn offered_to_the_embedder_first(&self) -> bool {
        false
    }
}
