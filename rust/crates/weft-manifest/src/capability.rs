//! Capabilities: what an app may do beyond computing, as declared in `wapp.toml`.

use std::fmt;
use std::str::FromStr;

/// One granted capability. The manifest's `package.capabilities` strings become
/// these; no later component parses capability strings again.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Capability {
    /// `fs:rw:<dir>` or `fs:read:<dir>`: a directory preopened for the app.
    Filesystem {
        /// Which directory.
        dir: Directory,
        /// Read-only or read-write.
        access: Access,
    },
    /// `net:fetch:<origin>`: outgoing HTTP requests to one origin, through `wasi:http`.
    NetFetch(Origin),
    /// `sys:notifications`: the `weft:app/notifications` interface.
    Notifications,
    /// `sys:clipboard`: the `weft:app/clipboard` interface.
    Clipboard,
}

/// A directory an app can be given with an `fs:` capability.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Directory {
    /// The app's own data directory, preopened as `/data`.
    AppData,
    /// The user's documents directory, preopened as `/xdg/documents`.
    XdgDocuments,
}

/// How much access an `fs:` capability grants.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Access {
    /// `fs:read:…`: list and read files and directories.
    Read,
    /// `fs:rw:…`: also create, write, rename and delete.
    ReadWrite,
}

/// The kind of a capability, without its parameter: what the runtime links for it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum CapabilityKind {
    /// Any `fs:` capability for the given directory.
    Filesystem(Directory),
    /// Any `net:fetch:` capability.
    NetFetch,
    /// `sys:notifications`.
    Notifications,
    /// `sys:clipboard`.
    Clipboard,
}

/// Why a capability string was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum CapabilityError {
    /// Not one of the capabilities WEFT knows.
    #[error(
        "unknown capability; known: fs:rw:app-data, fs:read:app-data, fs:rw:xdg-documents, \
         fs:read:xdg-documents, net:fetch:<origin>, sys:notifications, sys:clipboard"
    )]
    Unknown,
    /// A `net:fetch:` capability with a bad origin.
    #[error("bad origin: {0}")]
    Origin(#[from] OriginError),
}

impl Capability {
    /// The capability's kind.
    pub fn kind(&self) -> CapabilityKind {
        match self {
            Self::Filesystem { dir, .. } => CapabilityKind::Filesystem(*dir),
            Self::NetFetch(_) => CapabilityKind::NetFetch,
            Self::Notifications => CapabilityKind::Notifications,
            Self::Clipboard => CapabilityKind::Clipboard,
        }
    }
}

impl FromStr for Capability {
    type Err = CapabilityError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let filesystem = |dir, access| Ok(Self::Filesystem { dir, access });
        match text {
            "fs:rw:app-data" => filesystem(Directory::AppData, Access::ReadWrite),
            "fs:read:app-data" => filesystem(Directory::AppData, Access::Read),
            "fs:rw:xdg-documents" => filesystem(Directory::XdgDocuments, Access::ReadWrite),
            "fs:read:xdg-documents" => filesystem(Directory::XdgDocuments, Access::Read),
            "sys:notifications" => Ok(Self::Notifications),
            "sys:clipboard" => Ok(Self::Clipboard),
            _ => match text.strip_prefix("net:fetch:") {
                Some(origin) => Ok(Self::NetFetch(origin.parse()?)),
                None => Err(CapabilityError::Unknown),
            },
        }
    }
}

impl fmt::Display for Capability {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Filesystem { dir, access } => {
                let access = match access {
                    Access::Read => "read",
                    Access::ReadWrite => "rw",
                };
                write!(f, "fs:{access}:{dir}")
            }
            Self::NetFetch(origin) => write!(f, "net:fetch:{origin}"),
            Self::Notifications => f.write_str("sys:notifications"),
            Self::Clipboard => f.write_str("sys:clipboard"),
        }
    }
}

impl fmt::Display for Directory {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::AppData => "app-data",
            Self::XdgDocuments => "xdg-documents",
        })
    }
}

impl fmt::Display for CapabilityKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Filesystem(dir) => write!(f, "fs:rw:{dir} or fs:read:{dir}"),
            Self::NetFetch => f.write_str("net:fetch:<origin>"),
            Self::Notifications => f.write_str("sys:notifications"),
            Self::Clipboard => f.write_str("sys:clipboard"),
        }
    }
}

/// A web origin an app may fetch from: `https://host[:port]`, or
/// `http://127.0.0.1:port` for a service on the same machine.
///
/// Hosts are lowercase DNS names or IPv4 addresses; no path, query, user info or
/// fragment is allowed, so two spellings of one origin cannot both be granted.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Origin {
    scheme: Scheme,
    host: String,
    port: Option<u16>,
}

/// The scheme of an [`Origin`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Scheme {
    /// TLS; any host.
    Https,
    /// Plain HTTP; only to `127.0.0.1`.
    Http,
}

/// Why an origin was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum OriginError {
    /// Neither `https://` nor `http://`.
    #[error("an origin starts with https:// (or http://127.0.0.1:<port>)")]
    Scheme,
    /// Plain HTTP to anything but the loopback address.
    #[error("plain http is allowed only to 127.0.0.1 with a port")]
    InsecureHost,
    /// Something after the host and port.
    #[error("an origin has no path, query, fragment or user info")]
    NotBare,
    /// The host is empty or not a lowercase DNS name or IPv4 address.
    #[error("host {0:?} is not a lowercase DNS name or IPv4 address")]
    Host(String),
    /// The port is not a number from 1 to 65535.
    #[error("port {0:?} is not a number from 1 to 65535")]
    Port(String),
}

impl Origin {
    /// The scheme.
    pub fn scheme(&self) -> Scheme {
        self.scheme
    }

    /// The host name or IPv4 address, lowercase.
    pub fn host(&self) -> &str {
        &self.host
    }

    /// The port, falling back to the scheme's default (443 or 80).
    pub fn port(&self) -> u16 {
        self.port.unwrap_or(match self.scheme {
            Scheme::Https => 443,
            Scheme::Http => 80,
        })
    }
}

impl FromStr for Origin {
    type Err = OriginError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let (scheme, rest) = if let Some(rest) = text.strip_prefix("https://") {
            (Scheme::Https, rest)
        } else if let Some(rest) = text.strip_prefix("http://") {
            (Scheme::Http, rest)
        } else {
            return Err(OriginError::Scheme);
        };
        if rest.contains(['/', '?', '#', '@', '\\']) {
            return Err(OriginError::NotBare);
        }
        let (host, port) = match rest.rsplit_once(':') {
            Some((host, port)) => (host, Some(parse_port(port)?)),
            None => (rest, None),
        };
        if !is_host(host) {
            return Err(OriginError::Host(host.to_owned()));
        }
        if scheme == Scheme::Http && (host != "127.0.0.1" || port.is_none()) {
            return Err(OriginError::InsecureHost);
        }
        // `https://a.example:443` and `https://a.example` are one origin: keep one
        // spelling so that listing both is caught as a duplicate.
        let port = port.filter(|&port| !(scheme == Scheme::Https && port == 443));
        Ok(Self { scheme, host: host.to_owned(), port })
    }
}

fn parse_port(port: &str) -> Result<u16, OriginError> {
    // `u16::from_str` accepts a leading `+`; an origin's port is digits only.
    match port.parse::<u16>() {
        Ok(number) if number != 0 && port.bytes().all(|b| b.is_ascii_digit()) => Ok(number),
        _ => Err(OriginError::Port(port.to_owned())),
    }
}

/// A lowercase DNS name (labels of `[a-z0-9-]`, no hyphen at either end) or IPv4
/// address; at most 253 bytes.
fn is_host(host: &str) -> bool {
    !host.is_empty()
        && host.len() <= 253
        && host.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label.bytes().all(|b| matches!(b, b'a'..=b'z' | b'0'..=b'9' | b'-'))
        })
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let scheme = match self.scheme {
            Scheme::Https => "https",
            Scheme::Http => "http",
        };
        write!(f, "{scheme}://{}", self.host)?;
        if let Some(port) = self.port {
            write!(f, ":{port}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_known_capability_round_trips() {
        for text in [
            "fs:rw:app-data",
            "fs:read:app-data",
            "fs:rw:xdg-documents",
            "fs:read:xdg-documents",
            "net:fetch:https://example.org",
            "net:fetch:https://api.example.org:8443",
            "net:fetch:http://127.0.0.1:8080",
            "sys:notifications",
            "sys:clipboard",
        ] {
            let capability: Capability = text.parse().unwrap();
            assert_eq!(capability.to_string(), text);
        }
    }

    #[test]
    fn origins_are_bare_and_safe() {
        let cases: &[(&str, OriginError)] = &[
            ("ftp://example.org", OriginError::Scheme),
            ("example.org", OriginError::Scheme),
            ("https://example.org/", OriginError::NotBare),
            ("https://example.org/path", OriginError::NotBare),
            ("https://user@example.org", OriginError::NotBare),
            ("https://example.org?q", OriginError::NotBare),
            ("https://example.org#f", OriginError::NotBare),
            ("https://", OriginError::Host(String::new())),
            ("https://Example.org", OriginError::Host("Example.org".into())),
            ("https://exa_mple.org", OriginError::Host("exa_mple.org".into())),
            ("https://[::1]:80", OriginError::Host("[::1]".into())),
            ("https://example.org:0", OriginError::Port("0".into())),
            ("https://example.org:65536", OriginError::Port("65536".into())),
            ("https://example.org:+80", OriginError::Port("+80".into())),
            ("https://example.org:", OriginError::Port(String::new())),
            ("http://example.org:80", OriginError::InsecureHost),
            ("http://127.0.0.1", OriginError::InsecureHost),
            ("http://localhost:8080", OriginError::InsecureHost),
        ];
        for (text, expected) in cases {
            assert_eq!(text.parse::<Origin>().unwrap_err(), *expected, "origin {text:?}");
        }
        let explicit: Origin = "https://example.org:443".parse().unwrap();
        assert_eq!(explicit.to_string(), "https://example.org");
        let origin: Origin = "https://example.org".parse().unwrap();
        assert_eq!(origin, explicit);
        assert_eq!(
            (origin.scheme(), origin.host(), origin.port()),
            (Scheme::Https, "example.org", 443)
        );
    }
}
