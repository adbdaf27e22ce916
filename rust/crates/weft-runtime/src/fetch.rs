//! `net:fetch`: outgoing HTTP through `wasi:http`, only to the declared origins.

use std::future::Future;

use http_body_util::BodyExt;
use wasmtime_wasi_http::{Error, RequestOptions, WasiBody, WasiHttpHooks, default_send_request};
use weft_manifest::{Origin, Scheme};

/// The `wasi:http` hooks of one app: every request is checked against the
/// app's `net:fetch` origins before any connection is made. Redirects are not
/// followed by the host (a guest that follows one sends a new request, which is
/// checked again).
#[derive(Clone, Debug, Default)]
pub struct FetchGuard {
    origins: Vec<Origin>,
}

impl FetchGuard {
    /// A guard allowing exactly `origins`.
    pub fn new(origins: Vec<Origin>) -> Self {
        Self { origins }
    }

    /// Whether a request to `uri` goes to an allowed origin.
    pub fn allows(&self, uri: &http::Uri) -> bool {
        let scheme = match uri.scheme_str() {
            Some("https") => Scheme::Https,
            Some("http") => Scheme::Http,
            _ => return false,
        };
        let Some(host) = uri.host() else { return false };
        let port = uri.port_u16().unwrap_or(match scheme {
            Scheme::Https => 443,
            Scheme::Http => 80,
        });
        self.origins.iter().any(|origin| {
            origin.scheme() == scheme
                && origin.host().eq_ignore_ascii_case(host)
                && origin.port() == port
        })
    }
}

type Sent = (http::Response<WasiBody>, Box<dyn Future<Output = Result<(), Error>> + Send>);

impl WasiHttpHooks for FetchGuard {
    fn send_request(
        &mut self,
        request: http::Request<WasiBody>,
        options: Option<RequestOptions>,
        _response_error: Box<dyn Future<Output = Result<(), Error>> + Send>,
    ) -> Box<dyn Future<Output = Result<Sent, Error>> + Send> {
        if !self.allows(request.uri()) {
            tracing::warn!(uri = %request.uri(), "refused a request outside the app's net:fetch origins");
            return Box::new(async { Err(Error::HttpRequestDenied) });
        }
        Box::new(async move {
            let (response, io) = default_send_request(request, options).await?;
            Ok((
                response.map(BodyExt::boxed_unsync),
                Box::new(io) as Box<dyn Future<Output = _> + Send>,
            ))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_declared_origins_pass() {
        let guard = FetchGuard::new(vec![
            "https://api.example.org".parse().unwrap(),
            "http://127.0.0.1:8080".parse().unwrap(),
        ]);
        for allowed in [
            "https://api.example.org/v1?q",
            "https://API.example.org:443/",
            "http://127.0.0.1:8080/x",
        ] {
            assert!(guard.allows(&allowed.parse().unwrap()), "{allowed}");
        }
        for denied in [
            "http://api.example.org/",
            "https://api.example.org:8443/",
            "https://evil.example.org/",
            "https://api.example.org.evil.com/",
            "http://127.0.0.1:8081/",
            "http://localhost:8080/",
            "/relative",
        ] {
            assert!(!guard.allows(&denied.parse().unwrap()), "{denied}");
        }
        assert!(!FetchGuard::default().allows(&"https://api.example.org/".parse().unwrap()));
    }
}
