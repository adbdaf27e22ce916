//! The `weft-app://` scheme of an app shell: any URL a page (or a link in it)
//! asks for. Only the files of the package's UI directory are ever served:
//! never the manifest beside it, a file outside the package, or what a
//! symbolic link inside it points at.
#![no_main]

use std::path::Path;
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use weft_manifest::{AppId, PackagePath};
use weft_shell_core::scheme::AppFiles;

/// What the UI directory holds; everything served must be one of these.
const UI_FILES: &[(&str, &str)] =
    &[("index.html", "<h1>index</h1>"), ("app.js", "js"), ("sub/deep.css", "css")];

/// A package made once: a UI directory, a secret beside it and outside the
/// package, and a symbolic link in the UI to the secret.
fn files() -> &'static AppFiles {
    static FILES: OnceLock<(tempfile::TempDir, AppFiles)> = OnceLock::new();
    &FILES
        .get_or_init(|| {
            let dir = tempfile::tempdir().unwrap();
            let package = dir.path().join("org.weft.fuzz");
            for (path, text) in UI_FILES {
                let file = package.join("ui").join(path);
                std::fs::create_dir_all(file.parent().unwrap()).unwrap();
                std::fs::write(file, text).unwrap();
            }
            std::fs::write(package.join("wapp.toml"), "secret manifest").unwrap();
            std::fs::write(dir.path().join("secret"), "secret outside").unwrap();
            std::os::unix::fs::symlink(dir.path().join("secret"), package.join("ui/link")).unwrap();
            let id = AppId::new("org.weft.fuzz").unwrap();
            let entry = PackagePath::new("ui/index.html").unwrap();
            let files = AppFiles::open(Path::new(&package), id, entry).unwrap();
            (dir, files)
        })
        .1
}

fuzz_target!(|data: &[u8]| {
    let Ok(url) = std::str::from_utf8(data) else { return };
    match files().serve(url) {
        Ok(served) => {
            let body = String::from_utf8(served.body).expect("the UI files are text");
            assert!(
                UI_FILES.iter().any(|(_, text)| *text == body),
                "{url:?} served {body:?} from {}",
                served.path
            );
        }
        Err(error) => weft_fuzz::explains(&error),
    }
});
