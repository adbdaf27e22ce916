//! `weft-app://<app-id>/<path>`: an app's UI files, served from the UI
//! directory of its package (the directory of `ui.entry`, on a WEFT system
//! the read-only image mount) and nothing else. The system UI's pages are
//! served the same way as `weft://system/<path>` from their directory. Another app's id, `..`,
//! encoded slashes or backslashes, absolute paths, NUL, symlinks and special
//! files are all "not found"; so is anything outside the UI directory, such
//! as the component or the manifest.

use std::fs::File;
use std::io::{self, Read};
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};

use percent_encoding::percent_decode_str;
use rustix::fs::{Mode, OFlags, ResolveFlags};
use weft_manifest::{AppId, PackagePath};

/// The scheme of apps' pages.
pub const SCHEME: &str = "weft-app";
/// The scheme of the system UI's pages (`weft://system/…`), which is also the
/// `Origin` weft-appd's WebSocket expects from the system UI.
pub const SYSTEM_SCHEME: &str = "weft";
/// The host of the system UI's pages.
pub const SYSTEM_HOST: &str = "system";
/// Largest file served, in bytes.
pub const MAX_FILE_BYTES: u64 = 64 << 20;

/// Why a request gets no file. Every variant is a 404 to the page; the
/// reason is for the shell's log.
#[derive(Debug, thiserror::Error)]
pub enum NotFound {
    /// Not a URL of this scheme.
    #[error("{0:?} is not a URL of this shell's scheme")]
    NotThisScheme(String),
    /// A URL for another app than this shell's (or another host than `system`).
    #[error("{asked:?} is another app than {own}")]
    OtherApp {
        /// The host of the URL.
        asked: String,
        /// This shell's app.
        own: String,
    },
    /// The path could leave the UI directory or is not a package path.
    #[error("{0:?} is not a path inside the app's UI")]
    BadPath(String),
    /// No such regular file (or a symlink, a directory, a special file).
    #[error("{path}: {source}")]
    Missing {
        /// The path asked for.
        path: String,
        /// Why it could not be opened.
        #[source]
        source: io::Error,
    },
    /// Larger than [`MAX_FILE_BYTES`].
    #[error("{0} is larger than {MAX_FILE_BYTES} bytes")]
    TooLarge(String),
}

/// A file to answer with.
#[derive(Debug, PartialEq, Eq)]
pub struct Served {
    /// The path inside the package (`ui/index.html`).
    pub path: String,
    /// Its MIME type.
    pub mime: String,
    /// Its bytes.
    pub body: Vec<u8>,
}

/// One app's UI files: the package's UI directory, opened once.
#[derive(Debug)]
pub struct AppFiles {
    /// `weft-app` or `weft`.
    scheme: &'static str,
    /// The app's id, or `system`.
    host: String,
    entry: PackagePath,
    /// The UI directory inside the package (`ui`), with a trailing `/`.
    ui_prefix: String,
    ui_dir: OwnedFd,
}

impl AppFiles {
    /// Serves `app_id`'s package at `package`, whose UI entry is `entry`
    /// (the manifest's `ui.entry`); files come only from the entry's directory.
    pub fn open(package: &Path, app_id: AppId, entry: PackagePath) -> io::Result<Self> {
        Self::open_as(SCHEME, app_id.to_string(), package, entry)
    }

    /// Serves the system UI's pages in `dir` as `weft://system/…`, entry
    /// `index.html`.
    pub fn system_ui(dir: &Path) -> io::Result<Self> {
        let entry = PackagePath::new("index.html").expect("a plain file name is a package path");
        Self::open_as(SYSTEM_SCHEME, SYSTEM_HOST.to_owned(), dir, entry)
    }

    fn open_as(
        scheme: &'static str,
        host: String,
        package: &Path,
        entry: PackagePath,
    ) -> io::Result<Self> {
        let ui = entry.as_path().parent().unwrap_or(Path::new(""));
        let ui_prefix = match ui.to_str() {
            Some("") | None => String::new(),
            Some(dir) => format!("{dir}/"),
        };
        let ui_path: PathBuf = package.join(ui);
        let ui_dir = rustix::fs::open(
            &ui_path,
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        )?;
        Ok(Self { scheme, host, entry, ui_prefix, ui_dir })
    }

    /// The URL of the app's UI entry page.
    pub fn entry_url(&self) -> String {
        format!("{}://{}/{}", self.scheme, self.host, self.entry.as_str())
    }

    /// Answers `url`: the file, or why there is none.
    pub fn serve(&self, url: &str) -> Result<Served, NotFound> {
        let path = self.package_path(url)?;
        let inside = path.strip_prefix(&self.ui_prefix).unwrap_or(&path);
        let fd = rustix::fs::openat2(
            &self.ui_dir,
            inside,
            OFlags::RDONLY | OFlags::CLOEXEC | OFlags::NOFOLLOW | OFlags::NONBLOCK,
            Mode::empty(),
            ResolveFlags::BENEATH | ResolveFlags::NO_SYMLINKS | ResolveFlags::NO_MAGICLINKS,
        )
        .map_err(|error| NotFound::Missing { path: path.clone(), source: error.into() })?;
        let file = File::from(fd);
        let metadata =
            file.metadata().map_err(|source| NotFound::Missing { path: path.clone(), source })?;
        if !metadata.is_file() {
            return Err(NotFound::Missing {
                path,
                source: io::Error::new(io::ErrorKind::InvalidInput, "not a regular file"),
            });
        }
        if metadata.len() > MAX_FILE_BYTES {
            return Err(NotFound::TooLarge(path));
        }
        let mut body = Vec::with_capacity(metadata.len() as usize);
        file.take(MAX_FILE_BYTES + 1)
            .read_to_end(&mut body)
            .map_err(|source| NotFound::Missing { path: path.clone(), source })?;
        if body.len() as u64 > MAX_FILE_BYTES {
            return Err(NotFound::TooLarge(path));
        }
        let mime = mime_guess::from_path(&path).first_or_octet_stream().essence_str().to_owned();
        Ok(Served { path, mime, body })
    }

    /// The scheme and host of this shell's pages (`weft-app://org.weft.hello`).
    pub fn origin(&self) -> String {
        format!("{}://{}", self.scheme, self.host)
    }

    /// The package path `url` names: its host must be this app, its path a
    /// package path inside the UI directory (the root is the entry page).
    fn package_path(&self, url: &str) -> Result<String, NotFound> {
        let rest = url
            .strip_prefix(self.scheme)
            .and_then(|rest| rest.strip_prefix("://"))
            .ok_or_else(|| NotFound::NotThisScheme(url.to_owned()))?;
        let (host, raw_path) = rest.split_once('/').unwrap_or((rest, ""));
        if host != self.host {
            return Err(NotFound::OtherApp { asked: host.to_owned(), own: self.host.clone() });
        }
        // Query and fragment are the page's business, not the file's.
        let raw_path = raw_path.split(['?', '#']).next().unwrap_or("");
        let bad = || NotFound::BadPath(raw_path.to_owned());
        let lower = raw_path.to_ascii_lowercase();
        if raw_path.contains('\\') || lower.contains("%2f") || lower.contains("%5c") {
            return Err(bad());
        }
        let decoded = percent_decode_str(raw_path).decode_utf8().map_err(|_| bad())?;
        if decoded.is_empty() {
            return Ok(self.entry.as_str().to_owned());
        }
        let path = PackagePath::new(&decoded).map_err(|_| bad())?;
        if !path.as_str().starts_with(&self.ui_prefix) {
            return Err(bad());
        }
        Ok(path.as_str().to_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A package with `ui/index.html`, `ui/app.js`, `ui/img/logo.svg`, a
    /// manifest and a component beside `ui/`, and a symlink inside it.
    fn package() -> (tempfile::TempDir, AppFiles) {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::create_dir_all(root.join("ui/img")).unwrap();
        std::fs::write(root.join("ui/index.html"), "<h1>hi</h1>").unwrap();
        std::fs::write(root.join("ui/app.js"), "weftIpc.send('x')").unwrap();
        std::fs::write(root.join("ui/img/logo.svg"), "<svg/>").unwrap();
        std::fs::write(root.join("ui/data.bin"), [0u8, 1, 2]).unwrap();
        std::fs::write(root.join("wapp.toml"), "[package]").unwrap();
        std::fs::write(root.join("app.wasm"), b"\0asm").unwrap();
        std::os::unix::fs::symlink("/etc/passwd", root.join("ui/passwd")).unwrap();
        std::os::unix::fs::symlink("../wapp.toml", root.join("ui/manifest")).unwrap();
        let files = AppFiles::open(
            root,
            AppId::new("org.weft.hello").unwrap(),
            PackagePath::new("ui/index.html").unwrap(),
        )
        .unwrap();
        (dir, files)
    }

    #[test]
    fn the_root_is_the_entry_and_files_come_with_their_mime_type() {
        let (_dir, files) = package();
        assert_eq!(files.entry_url(), "weft-app://org.weft.hello/ui/index.html");
        let root = files.serve("weft-app://org.weft.hello/").unwrap();
        assert_eq!((root.path.as_str(), root.mime.as_str()), ("ui/index.html", "text/html"));
        assert_eq!(root.body, b"<h1>hi</h1>");
        for (url, mime) in [
            ("weft-app://org.weft.hello/ui/app.js", "text/javascript"),
            ("weft-app://org.weft.hello/ui/img/logo.svg", "image/svg+xml"),
            ("weft-app://org.weft.hello/ui/img/logo%2Esvg?v=2#top", "image/svg+xml"),
            ("weft-app://org.weft.hello/ui/data.bin", "application/octet-stream"),
        ] {
            assert_eq!(files.serve(url).unwrap().mime, mime, "{url}");
        }
    }

    #[test]
    fn the_system_ui_is_served_as_weft_system_only() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("index.html"), "<h1>system</h1>").unwrap();
        let files = AppFiles::system_ui(dir.path()).unwrap();
        assert_eq!(files.entry_url(), "weft://system/index.html");
        assert_eq!(files.origin(), "weft://system");
        assert_eq!(files.serve("weft://system/").unwrap().body, b"<h1>system</h1>");
        for url in [
            "weft-app://system/index.html",
            "weft://org.weft.hello/index.html",
            "weft://system/../index.html",
        ] {
            assert!(files.serve(url).is_err(), "{url} was served");
        }
    }

    #[test]
    fn hostile_urls_are_not_found() {
        let (_dir, files) = package();
        for url in [
            "weft-app://org.weft.notes/ui/index.html",
            "weft-app://org.weft.hello.evil/ui/index.html",
            "weft-app://org.weft.hello/ui/../wapp.toml",
            "weft-app://org.weft.hello/ui/%2e%2e/wapp.toml",
            "weft-app://org.weft.hello/ui%2f..%2fwapp.toml",
            "weft-app://org.weft.hello/ui%2Fapp.js",
            "weft-app://org.weft.hello/ui\\..\\wapp.toml",
            "weft-app://org.weft.hello//etc/passwd",
            "weft-app://org.weft.hello/%2fetc%2fpasswd",
            "weft-app://org.weft.hello/ui/app.js%00.html",
            "weft-app://org.weft.hello/wapp.toml",
            "weft-app://org.weft.hello/app.wasm",
            "weft-app://org.weft.hello/ui/passwd",
            "weft-app://org.weft.hello/ui/manifest",
            "weft-app://org.weft.hello/ui/img",
            "weft-app://org.weft.hello/ui/missing.html",
            "weft-app://org.weft.hello/ui/%ff.html",
            "file:///etc/passwd",
            "weft-app:org.weft.hello/ui/index.html",
        ] {
            let answer = files.serve(url);
            assert!(answer.is_err(), "{url} was served: {answer:?}");
        }
    }
}
