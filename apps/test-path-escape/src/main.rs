//! Hostile app: granted only its data directory (`/data`), it tries every way
//! out it can think of, through the filesystem and through sockets. It reports
//! each attempt over IPC as `escaped <what>` or `refused <what>`, then appends
//! to a file of its own and reports `inside <text>` and `done`.

wit_bindgen::generate!({ path: "../../rust/wit", world: "app" });

use std::fs;
use std::io::Write as _;

fn main() {
    weft::app::notify::ready();
    let _ = fs::write("/data/inside.txt", "ok");
    // Plant symlinks pointing out of /data, through the raw WASI interface.
    for (descriptor, name) in wasip2::filesystem::preopens::get_directories() {
        if name == "/data" {
            let _ = descriptor.symlink_at("/etc", "etc-link");
            let _ = descriptor.symlink_at("../../../../etc", "up-link");
        }
    }
    for path in [
        "/etc/passwd",
        "/data/../etc/passwd",
        "/data/../../etc/passwd",
        "../etc/passwd",
        "/data/etc-link/passwd",
        "/data/up-link/passwd",
        "/proc/self/environ",
    ] {
        let escaped = fs::read(path).is_ok() || fs::read_dir(path).is_ok();
        let verdict = if escaped { "escaped" } else { "refused" };
        let _ = weft::app::ipc::send(&format!("{verdict} {path}"));
    }
    // `/` is the app's own data directory (its root and working directory),
    // never the host's: no host directory shows in it.
    let host_root = fs::read_dir("/").is_ok_and(|entries| {
        entries.flatten().any(|entry| {
            ["usr", "proc", "etc", "nix"].contains(&&*entry.file_name().to_string_lossy())
        })
    });
    let _ = weft::app::ipc::send(&format!(
        "{} /",
        if host_root { "escaped" } else { "refused" }
    ));
    let tcp = std::net::TcpStream::connect("127.0.0.1:1").is_ok();
    let _ = weft::app::ipc::send(&format!(
        "{} tcp 127.0.0.1:1",
        if tcp { "escaped" } else { "refused" }
    ));
    let udp = std::net::UdpSocket::bind("0.0.0.0:0").is_ok();
    let _ = weft::app::ipc::send(&format!(
        "{} udp bind",
        if udp { "escaped" } else { "refused" }
    ));
    // What an ordinary program does inside: append (wasmtime-wasi writes with
    // pwritev2 and RWF_APPEND), which must work.
    let appended = fs::OpenOptions::new()
        .append(true)
        .open("/data/inside.txt")
        .and_then(|mut file| file.write_all(b" appended"));
    if let Err(error) = appended {
        let _ = weft::app::ipc::send(&format!("cannot append: {error}"));
    }
    let inside = fs::read_to_string("/data/inside.txt").unwrap_or_default();
    let _ = weft::app::ipc::send(&format!("inside {inside}"));
    // A relative path names a file in the working directory: the data directory.
    if let Err(error) = fs::write("relative.txt", "here") {
        let _ = weft::app::ipc::send(&format!("cannot write relative.txt: {error}"));
    }
    let _ = weft::app::ipc::send("done");
}
