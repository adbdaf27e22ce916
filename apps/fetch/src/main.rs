//! `fetch`: its UI sends a URL; the app GETs it through `wasi:http` and answers
//! `status <code> <body>` (the body cut to 16 KiB) or `error <reason>`. The
//! runtime lets requests through only to the origins the manifest declares.

wit_bindgen::generate!({ path: "../../rust/wit", world: "app" });

use wasip2::http::outgoing_handler;
use wasip2::http::types::{Fields, Method, OutgoingRequest, Scheme};
use weft::app::{ipc, notify};

/// Most body bytes reported back.
const MAX_BODY: usize = 16 * 1024;

/// Splits `scheme://authority/path?query`.
fn split_url(url: &str) -> Result<(Scheme, &str, &str), String> {
    let (scheme, rest) = if let Some(rest) = url.strip_prefix("https://") {
        (Scheme::Https, rest)
    } else if let Some(rest) = url.strip_prefix("http://") {
        (Scheme::Http, rest)
    } else {
        return Err(format!("not an http(s) URL: {url}"));
    };
    let (authority, path) = rest.find('/').map_or((rest, "/"), |at| rest.split_at(at));
    Ok((scheme, authority, path))
}

fn fetch(url: &str) -> Result<String, String> {
    let (scheme, authority, path) = split_url(url)?;
    let request = OutgoingRequest::new(Fields::new());
    request.set_method(&Method::Get).map_err(|()| "bad method")?;
    request.set_scheme(Some(&scheme)).map_err(|()| "bad scheme")?;
    request.set_authority(Some(authority)).map_err(|()| "bad authority")?;
    request.set_path_with_query(Some(path)).map_err(|()| "bad path")?;
    let pending = outgoing_handler::handle(request, None).map_err(|code| format!("{code:?}"))?;
    pending.subscribe().block();
    let response = pending
        .get()
        .ok_or("no response")?
        .map_err(|()| "response already taken")?
        .map_err(|code| format!("{code:?}"))?;
    let status = response.status();
    let body = response.consume().map_err(|()| "no body")?;
    let stream = body.stream().map_err(|()| "no body stream")?;
    let mut bytes = Vec::new();
    while bytes.len() < MAX_BODY {
        match stream.blocking_read((MAX_BODY - bytes.len()) as u64) {
            Ok(chunk) => bytes.extend_from_slice(&chunk),
            Err(_) => break,
        }
    }
    Ok(format!("status {status} {}", String::from_utf8_lossy(&bytes)))
}

fn main() {
    notify::ready();
    while let Ok(Some(url)) = ipc::recv(None) {
        let reply = fetch(url.trim()).unwrap_or_else(|error| format!("error {error}"));
        if ipc::send(&reply).is_err() {
            break;
        }
    }
}
