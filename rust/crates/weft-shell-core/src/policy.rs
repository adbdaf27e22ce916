//! What a shell's page may load and connect to. An app's page gets its own
//! `weft-app://<id>/` files, `data:`, `blob:` and `about:` documents, and the
//! web origins of its `net:fetch` capabilities (over HTTP or WebSocket); the
//! system UI gets its own `weft://system/` files only. Everything else — other
//! apps' files, `file:`, any other host — is refused in the shell's fetch path.

use url::Url;
use weft_manifest::Origin;

/// One page's allowed origins.
#[derive(Clone, Debug)]
pub struct NetworkPolicy {
    /// The page's own origin (`weft-app://org.weft.hello`).
    own: String,
    /// The `net:fetch` origins.
    fetch: Vec<Origin>,
}

impl NetworkPolicy {
    /// A page at `own` (scheme and host) that may also reach `fetch`.
    pub fn new(own: String, fetch: Vec<Origin>) -> Self {
        Self { own, fetch }
    }

    /// The web origins the page may reach.
    pub fn fetch_origins(&self) -> &[Origin] {
        &self.fetch
    }

    /// Whether the page may load or connect to `url`.
    pub fn allows(&self, url: &Url) -> bool {
        match url.scheme() {
            "data" | "blob" | "about" => true,
            "http" | "https" | "ws" | "wss" => self.web_origin(url).is_some(),
            _ => {
                url.host_str().is_some_and(|host| format!("{}://{host}", url.scheme()) == self.own)
            }
        }
    }

    /// Why `url` is refused, for the shell's log.
    pub fn why_not(&self, url: &Url) -> String {
        match url.scheme() {
            "http" | "https" | "ws" | "wss" if self.fetch.is_empty() => {
                "the app declares no net:fetch origin".to_owned()
            }
            "http" | "https" | "ws" | "wss" => {
                let declared: Vec<String> = self.fetch.iter().map(ToString::to_string).collect();
                format!("not one of the app's net:fetch origins ({})", declared.join(", "))
            }
            _ => format!("not this page's own origin {}", self.own),
        }
    }

    /// The declared origin `url` belongs to (`ws` counted as `http`, `wss`
    /// as `https`).
    fn web_origin(&self, url: &Url) -> Option<&Origin> {
        let scheme = match url.scheme() {
            "ws" => "http",
            "wss" => "https",
            other => other,
        };
        let host = url.host_str()?;
        let origin: Origin = match url.port() {
            Some(port) => format!("{scheme}://{host}:{port}"),
            None => format!("{scheme}://{host}"),
        }
        .parse()
        .ok()?;
        self.fetch.iter().find(|declared| **declared == origin)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn allowed(policy: &NetworkPolicy, url: &str) -> bool {
        policy.allows(&Url::parse(url).unwrap())
    }

    #[test]
    fn a_page_without_net_fetch_reaches_only_its_own_files() {
        let policy = NetworkPolicy::new("weft-app://org.weft.hello".into(), Vec::new());
        for url in [
            "weft-app://org.weft.hello/ui/index.html",
            "weft-app://org.weft.hello/.weft/ipc?m=hi",
            "data:text/plain,hi",
            "about:blank",
        ] {
            assert!(allowed(&policy, url), "{url}");
        }
        for url in [
            "weft-app://org.weft.notes/ui/index.html",
            "weft-app://org.weft.hello.evil/ui/index.html",
            "weft://system/index.html",
            "file:///etc/passwd",
            "https://example.org/",
            "http://127.0.0.1:7410/?token=x",
            "ws://127.0.0.1:7410/",
        ] {
            assert!(!allowed(&policy, url), "{url}");
        }
        let why = policy.why_not(&Url::parse("https://example.org/").unwrap());
        assert_eq!(why, "the app declares no net:fetch origin");
    }

    #[test]
    fn net_fetch_origins_are_matched_exactly_by_scheme_host_and_port() {
        let fetch =
            vec!["https://example.org".parse().unwrap(), "http://127.0.0.1:8080".parse().unwrap()];
        let policy = NetworkPolicy::new("weft-app://org.weft.fetch".into(), fetch);
        for url in [
            "https://example.org/data.json",
            "https://example.org:443/",
            "wss://example.org/live",
            "http://127.0.0.1:8080/api",
        ] {
            assert!(allowed(&policy, url), "{url}");
        }
        for url in [
            "http://example.org/",
            "https://example.org:8443/",
            "https://api.example.org/",
            "https://example.org.evil.net/",
            "http://127.0.0.1:8081/",
            "http://localhost:8080/",
        ] {
            assert!(!allowed(&policy, url), "{url}");
        }
        let why = policy.why_not(&Url::parse("https://evil.net/").unwrap());
        assert!(why.contains("https://example.org"), "{why}");
    }
}
