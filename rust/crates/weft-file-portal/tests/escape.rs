//! The portal escape suite: a real portal process, a real socket, real
//! descriptors. Every escape attempt must be refused; every legitimate open
//! must hand back a descriptor of the right file. Zero escapes.

use std::fs;
use std::io::{Read, Write};
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::os::unix::fs::{MetadataExt, PermissionsExt, symlink};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use rustix::fs::{AtFlags, Mode, OFlags, Timestamps, XattrFlags};
use rustix::io::Errno;
use weft_protocol::portal::{PortalRequest, request};

const INSIDE: &str = "INSIDE";
const OUTSIDE: &str = "OUTSIDE";

struct Portal {
    dir: tempfile::TempDir,
    child: Child,
    stream: UnixStream,
}

impl Drop for Portal {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A portal over `root` (read-write) and `shelf` (read-only), with a secret
/// file beside them that must never be reachable.
fn portal() -> Portal {
    start(None)
}

/// [`portal`], run as `user` (uid = gid, owning the files) when given.
fn start(user: Option<u32>) -> Portal {
    let dir = tempfile::tempdir().unwrap();
    let (root, shelf) = (dir.path().join("root"), dir.path().join("shelf"));
    fs::create_dir_all(root.join("sub")).unwrap();
    fs::create_dir_all(shelf.join("drawer")).unwrap();
    fs::create_dir_all(shelf.join("empty")).unwrap();
    fs::write(shelf.join("drawer/page"), INSIDE).unwrap();
    fs::write(root.join("note"), INSIDE).unwrap();
    fs::write(root.join("sub/deep"), INSIDE).unwrap();
    fs::write(shelf.join("book"), INSIDE).unwrap();
    fs::write(dir.path().join("secret"), OUTSIDE).unwrap();
    // Escape hatches planted before the session starts.
    symlink(dir.path().join("secret"), root.join("link-out-file")).unwrap();
    symlink(dir.path(), root.join("link-out-dir")).unwrap();
    symlink("../secret", root.join("link-up")).unwrap();
    symlink("loop-b", root.join("loop-a")).unwrap();
    symlink("loop-a", root.join("loop-b")).unwrap();
    symlink("/proc/self/root", root.join("link-proc")).unwrap();
    symlink("note", root.join("link-inside")).unwrap();
    let socket = dir.path().join("portal.sock");
    let mut command = Command::new(env!("CARGO_BIN_EXE_weft-file-portal"));
    if let Some(user) = user {
        // The binary is copied where the user can run it; the files become its own.
        let binary = dir.path().join("weft-file-portal");
        fs::copy(env!("CARGO_BIN_EXE_weft-file-portal"), &binary).unwrap();
        for entry in [dir.path(), &root, &root.join("sub"), &shelf, &shelf.join("drawer")]
            .into_iter()
            .flat_map(|dir| fs::read_dir(dir).unwrap().map(|entry| entry.unwrap().path()))
            .chain([dir.path().to_owned()])
        {
            std::os::unix::fs::lchown(&entry, Some(user), Some(user)).unwrap();
        }
        fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o755)).unwrap();
        command = Command::new("setpriv");
        command.arg(format!("--reuid={user}")).arg(format!("--regid={user}")).arg("--clear-groups");
        command.arg(binary);
    }
    let child = command
        .arg("--socket")
        .arg(&socket)
        .arg("--session")
        .arg("test")
        .arg("--root")
        .arg(format!("app-data={}:rw", root.display()))
        .arg("--root")
        .arg(format!("shelf={}:ro", shelf.display()))
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    let stream = loop {
        if let Ok(stream) = UnixStream::connect(&socket) {
            break stream;
        }
        assert!(Instant::now() < deadline, "the portal did not start");
        std::thread::sleep(Duration::from_millis(10));
    };
    Portal { dir, child, stream }
}

fn open(portal: &Portal, root: &str, path: &str, write: bool) -> Result<fs::File, String> {
    let (reply, fd) = request(
        &portal.stream,
        &PortalRequest::Open {
            root: root.into(),
            path: path.into(),
            write,
            create: false,
            directory: false,
        },
    )
    .unwrap();
    match (reply.ok, fd) {
        (true, Some(fd)) => Ok(fs::File::from(fd)),
        (false, None) => Err(reply.error.unwrap_or_default()),
        other => panic!("inconsistent reply {other:?}"),
    }
}

fn content(mut file: fs::File) -> String {
    let mut text = String::new();
    file.read_to_string(&mut text).unwrap();
    text
}

#[test]
fn legitimate_opens_return_descriptors_of_the_right_files() {
    let portal = portal();
    assert_eq!(content(open(&portal, "app-data", "note", false).unwrap()), INSIDE);
    assert_eq!(content(open(&portal, "app-data", "sub/deep", false).unwrap()), INSIDE);
    assert_eq!(content(open(&portal, "app-data", "sub/../note", false).unwrap()), INSIDE);
    assert_eq!(content(open(&portal, "app-data", "link-inside", false).unwrap()), INSIDE);
    assert_eq!(content(open(&portal, "shelf", "book", false).unwrap()), INSIDE);
    let mut written = open(&portal, "app-data", "note", true).unwrap();
    written.write_all(b"changed").unwrap();
    assert!(
        fs::read_to_string(portal.dir.path().join("root/note")).unwrap().starts_with("changed")
    );
    let (reply, fd) =
        request(&portal.stream, &PortalRequest::Root { root: "app-data".into() }).unwrap();
    assert!(reply.ok && fd.is_some());
}

#[test]
fn every_escape_attempt_is_refused() {
    let portal = portal();
    let attempts = [
        "../secret",
        "sub/../../secret",
        "/etc/passwd",
        "/proc/self/root/etc/passwd",
        "link-out-file",
        "link-out-dir/secret",
        "link-up",
        "loop-a",
        "link-proc/etc/passwd",
        "",
    ];
    for path in attempts {
        let result = open(&portal, "app-data", path, false);
        assert!(result.is_err(), "{path:?} escaped: {:?}", result.map(content));
    }
    // Read-only root asked for a write, and an unknown root.
    let error = open(&portal, "shelf", "book", true).unwrap_err();
    assert!(error.contains("read-only"), "{error}");
    assert!(open(&portal, "etc", "passwd", false).unwrap_err().contains("no root named"));
}

#[test]
fn symlinks_planted_during_the_session_and_racing_renames_never_escape() {
    let portal = portal();
    let root = portal.dir.path().join("root");
    symlink(portal.dir.path().join("secret"), root.join("late-link")).unwrap();
    assert!(open(&portal, "app-data", "late-link", false).is_err());

    // A directory that keeps being swapped for a symlink pointing outside while
    // the portal resolves paths through it.
    fs::create_dir(root.join("swing")).unwrap();
    fs::write(root.join("swing/secret"), INSIDE).unwrap();
    let (swing, parked) = (root.join("swing"), root.join("swing-parked"));
    let outside = portal.dir.path().to_owned();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let racer = {
        let stop = std::sync::Arc::clone(&stop);
        std::thread::spawn(move || {
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let _ = fs::rename(&swing, &parked);
                let _ = symlink(&outside, &swing);
                let _ = fs::remove_file(&swing);
                let _ = fs::rename(&parked, &swing);
                // The directory is back: let the portal's opens run now and then,
                // so some go through while the swapping goes on.
                std::thread::yield_now();
            }
        })
    };
    // At least 2,000 opens, and on until one went through (a loaded machine can
    // keep the racer ahead for a while), for at most 20 s.
    let started = Instant::now();
    let mut opened = 0;
    let mut attempts = 0;
    while attempts < 2_000 || (opened == 0 && started.elapsed() < Duration::from_secs(20)) {
        attempts += 1;
        if let Ok(file) = open(&portal, "app-data", "swing/secret", false) {
            assert_eq!(
                content(file),
                INSIDE,
                "a racing rename let the portal open a file outside its root"
            );
            opened += 1;
        }
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    racer.join().unwrap();
    assert!(opened > 0, "the race never let a legitimate open through; the test proved nothing");
}

#[test]
fn malformed_and_oversized_requests_are_refused() {
    let portal = portal();
    let mut stream = &portal.stream;
    stream.write_all(b"{\"op\":\"delete-everything\"}\n").unwrap();
    let mut buffer = [0u8; 4096];
    let read = (&portal.stream).read(&mut buffer).unwrap();
    assert!(String::from_utf8_lossy(&buffer[..read]).contains("malformed request"));
    assert_eq!(
        content(open(&portal, "app-data", "note", false).unwrap()),
        INSIDE,
        "the connection goes on"
    );
    let oversized = vec![b'x'; weft_protocol::portal::MAX_REQUEST_BYTES + 10];
    // The portal answers and closes as soon as the limit is passed, which can
    // be before the rest is written (a broken pipe here); the answer is read
    // either way.
    let _ = stream.write_all(&oversized).and_then(|()| stream.write_all(b"\n"));
    let read = (&portal.stream).read(&mut buffer).unwrap();
    assert!(String::from_utf8_lossy(&buffer[..read]).contains("requests are at most 65536 bytes"));
}

#[test]
fn a_standard_input_that_is_not_a_socket_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join("plain"), "not a socket").unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_weft-file-portal"))
        .args(["--listen-on-stdin", "--session", "test", "--root"])
        .arg(format!("app-data={}:ro", dir.path().display()))
        .stdin(fs::File::open(dir.path().join("plain")).unwrap())
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("standard input is not a socket"), "{stderr}");
}

fn root_dir(portal: &Portal, root: &str) -> OwnedFd {
    let (reply, fd) = request(&portal.stream, &PortalRequest::Root { root: root.into() }).unwrap();
    assert!(reply.ok, "{:?}", reply.error);
    fd.unwrap()
}

/// Every entry beneath `dir`: its path, mode, owner, size, change and
/// modification times and bytes (not the access time, which reading it moves).
fn snapshot(dir: &Path) -> Vec<String> {
    let mut entries = Vec::new();
    for entry in fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let meta = fs::symlink_metadata(&path).unwrap();
        let bytes = if meta.is_file() { fs::read(&path).unwrap() } else { Vec::new() };
        entries.push(format!(
            "{} {:o} {}:{} {} {}.{} {}.{} {bytes:?}",
            path.display(),
            meta.mode(),
            meta.uid(),
            meta.gid(),
            meta.len(),
            meta.mtime(),
            meta.mtime_nsec(),
            meta.ctime(),
            meta.ctime_nsec(),
        ));
        if meta.is_dir() {
            entries.extend(snapshot(&path));
        }
    }
    entries.sort();
    entries
}

/// `mount_setattr(fd, "", AT_EMPTY_PATH, {attr_clr: MOUNT_ATTR_RDONLY})`: an
/// attacker clearing the read-only flag of the mount it was handed.
fn clear_read_only(fd: &OwnedFd) -> rustix::io::Result<()> {
    let attr = libc::mount_attr {
        attr_set: 0,
        attr_clr: libc::MOUNT_ATTR_RDONLY,
        propagation: 0,
        userns_fd: 0,
    };
    #[expect(unsafe_code, reason = "mount_setattr has no safe wrapper")]
    // SAFETY: a NUL-terminated empty path and a live `mount_attr` of the size
    // passed, both only read during the call.
    let result = unsafe {
        libc::syscall(
            libc::SYS_mount_setattr,
            fd.as_raw_fd(),
            c"".as_ptr(),
            libc::AT_EMPTY_PATH,
            &raw const attr,
            size_of::<libc::mount_attr>(),
        )
    };
    if result == -1 {
        Err(Errno::from_io_error(&std::io::Error::last_os_error()).unwrap())
    } else {
        Ok(())
    }
}

/// Tries every way to write through the descriptors a read-only root hands
/// out; all must fail and leave the directory as it was.
fn attack_the_read_only_root(portal: &Portal) {
    let shelf = portal.dir.path().join("shelf");
    let before = snapshot(&shelf);
    let dir = root_dir(portal, "shelf");
    let file = open(portal, "shelf", "book", false).unwrap();
    let page = open(portal, "shelf", "drawer/page", false).unwrap();
    let (uid, gid) = (rustix::process::getuid(), rustix::process::getgid());
    let opened = |path: &str, flags: OFlags| {
        rustix::fs::openat(&dir, path, flags | OFlags::CLOEXEC, Mode::from_raw_mode(0o644))
            .map(drop)
    };
    let reopened = format!("/proc/self/fd/{}", file.as_raw_fd());
    let times = Timestamps {
        last_access: rustix::fs::Timespec { tv_sec: 1, tv_nsec: 0 },
        last_modification: rustix::fs::Timespec { tv_sec: 1, tv_nsec: 0 },
    };
    let attempts: Vec<(&str, rustix::io::Result<()>)> = vec![
        ("openat new O_CREAT|O_WRONLY", opened("new", OFlags::CREATE | OFlags::WRONLY)),
        (
            "openat new O_CREAT|O_EXCL|O_RDWR",
            opened("new", OFlags::CREATE | OFlags::EXCL | OFlags::RDWR),
        ),
        ("openat O_TMPFILE", opened(".", OFlags::TMPFILE | OFlags::WRONLY)),
        ("openat book O_WRONLY", opened("book", OFlags::WRONLY)),
        ("openat book O_RDWR", opened("book", OFlags::RDWR)),
        ("openat book O_RDONLY|O_TRUNC", opened("book", OFlags::RDONLY | OFlags::TRUNC)),
        (
            "openat drawer/page O_WRONLY|O_APPEND",
            opened("drawer/page", OFlags::WRONLY | OFlags::APPEND),
        ),
        (
            "reopen the file via /proc O_WRONLY",
            rustix::fs::open(&reopened, OFlags::WRONLY, Mode::empty()).map(drop),
        ),
        ("mkdirat", rustix::fs::mkdirat(&dir, "newdir", Mode::RWXU)),
        (
            "mknodat fifo",
            rustix::fs::mknodat(&dir, "fifo", rustix::fs::FileType::Fifo, Mode::RWXU, 0),
        ),
        ("unlinkat file", rustix::fs::unlinkat(&dir, "book", AtFlags::empty())),
        ("unlinkat nested file", rustix::fs::unlinkat(&dir, "drawer/page", AtFlags::empty())),
        ("unlinkat dir", rustix::fs::unlinkat(&dir, "empty", AtFlags::REMOVEDIR)),
        ("renameat", rustix::fs::renameat(&dir, "book", &dir, "moved")),
        ("renameat over", rustix::fs::renameat(&dir, "drawer/page", &dir, "book")),
        ("symlinkat", rustix::fs::symlinkat("book", &dir, "link")),
        ("linkat", rustix::fs::linkat(&dir, "book", &dir, "hard", AtFlags::empty())),
        (
            "linkat the fd (AT_EMPTY_PATH)",
            rustix::fs::linkat(&file, "", &dir, "hard", AtFlags::EMPTY_PATH),
        ),
        ("fchmod file", rustix::fs::fchmod(&file, Mode::from_raw_mode(0o777))),
        ("fchmod root dir", rustix::fs::fchmod(&dir, Mode::from_raw_mode(0o777))),
        ("fchown file", rustix::fs::fchown(&file, Some(uid), Some(gid))),
        (
            "fchmodat beneath",
            rustix::fs::chmodat(&dir, "drawer/page", Mode::from_raw_mode(0o777), AtFlags::empty()),
        ),
        (
            "fchownat beneath",
            rustix::fs::chownat(&dir, "book", Some(uid), Some(gid), AtFlags::empty()),
        ),
        ("utimensat beneath", rustix::fs::utimensat(&dir, "book", &times, AtFlags::empty())),
        ("futimens file", rustix::fs::futimens(&page, &times)),
        ("fsetxattr file", rustix::fs::fsetxattr(&file, "user.weft", b"x", XattrFlags::empty())),
        ("ftruncate file", rustix::fs::ftruncate(&file, 0)),
        ("mount_setattr clear RDONLY (root fd)", clear_read_only(&dir)),
    ];
    let mut report = String::new();
    for (attempt, result) in &attempts {
        report.push_str(&format!("  {attempt}: {result:?}\n"));
    }
    eprintln!("read-only root attempts:\n{report}");
    for (attempt, result) in attempts {
        assert!(result.is_err(), "{attempt} succeeded through a read-only root\n{report}");
    }
    assert_eq!(snapshot(&shelf), before, "the read-only root changed");
    assert_eq!(content(open(portal, "shelf", "book", false).unwrap()), INSIDE);
}

/// The writable root, through the same kind of descriptor, still creates and
/// writes.
fn write_through_the_writable_root(portal: &Portal) {
    let dir = root_dir(portal, "app-data");
    let fresh = rustix::fs::openat(
        &dir,
        "fresh",
        OFlags::CREATE | OFlags::WRONLY | OFlags::CLOEXEC,
        Mode::from_raw_mode(0o600),
    )
    .unwrap();
    fs::File::from(fresh).write_all(b"fresh").unwrap();
    rustix::fs::mkdirat(&dir, "made", Mode::RWXU).unwrap();
    rustix::fs::renameat(&dir, "fresh", &dir, "made/fresh").unwrap();
    let root = portal.dir.path().join("root");
    assert_eq!(fs::read_to_string(root.join("made/fresh")).unwrap(), "fresh");
    // And the portal's own opens for writing and creating.
    let (reply, fd) = request(
        &portal.stream,
        &PortalRequest::Open {
            root: "app-data".into(),
            path: "created".into(),
            write: true,
            create: true,
            directory: false,
        },
    )
    .unwrap();
    assert!(reply.ok, "{:?}", reply.error);
    fs::File::from(fd.unwrap()).write_all(b"created").unwrap();
    assert_eq!(fs::read_to_string(root.join("created")).unwrap(), "created");
    let mut note = open(portal, "app-data", "note", true).unwrap();
    note.write_all(b"changed").unwrap();
    assert!(fs::read_to_string(root.join("note")).unwrap().starts_with("changed"));
}

#[test]
fn a_read_only_root_hands_out_only_descriptors_that_cannot_write() {
    let portal = portal();
    attack_the_read_only_root(&portal);
    write_through_the_writable_root(&portal);
}

#[test]
fn a_read_only_root_holds_for_a_portal_run_by_an_unprivileged_user() {
    // As root, the portal is run as `nobody` owning every file; otherwise the
    // test above already ran it unprivileged.
    if !rustix::process::getuid().is_root() {
        return;
    }
    let portal = start(Some(65534));
    attack_the_read_only_root(&portal);
    write_through_the_writable_root(&portal);
}

#[test]
fn a_read_only_root_without_user_namespaces_fails_closed() {
    // A user namespace (root in it, so the mount namespace alone would work)
    // that may create no further user namespaces: sealing cannot lock the
    // read-only mount, so the portal must not start.
    let dir = tempfile::tempdir().unwrap();
    let script = format!(
        "echo 0 > /proc/sys/user/max_user_namespaces && exec {} --socket {} --session test --root shelf={}:ro",
        env!("CARGO_BIN_EXE_weft-file-portal"),
        dir.path().join("portal.sock").display(),
        dir.path().display(),
    );
    let mut child = Command::new("unshare")
        .args(["--user", "--map-root-user", "sh", "-c", &script])
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("the portal started and is serving");
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    let mut stderr = String::new();
    child.stderr.take().unwrap().read_to_string(&mut stderr).unwrap();
    assert!(!status.success(), "the portal started: {stderr}");
    assert!(
        stderr.contains("read-only root shelf needs an unprivileged user namespace"),
        "{stderr}"
    );
    assert!(!dir.path().join("portal.sock").exists(), "the portal bound its socket");
}

/// Set in the child that plays the unprivileged attacker.
const ATTACKER: &str = "WEFT_PORTAL_TEST_ATTACKER";

#[test]
fn a_read_only_root_cannot_be_made_writable_from_the_holders_own_user_namespace() {
    if std::env::var_os(ATTACKER).is_some() {
        return attack_from_a_user_namespace();
    }
    // Portal and attacker unprivileged (`nobody` when the tests run as root):
    // the attacker owns the files, so only the mount stands in its way.
    let user = rustix::process::getuid().is_root().then_some(65534);
    let portal = start(user);
    let shelf = portal.dir.path().join("shelf");
    let before = snapshot(&shelf);
    // The test harness runs tests on threads, and a threaded process cannot
    // enter a user namespace: `unshare(1)` does it before running the child.
    let mut attacker = Command::new("unshare");
    attacker
        .args(["--user", "--mount", "--map-root-user"])
        .arg(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "a_read_only_root_cannot_be_made_writable_from_the_holders_own_user_namespace",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(ATTACKER, "1")
        .stdin(root_dir(&portal, "shelf"));
    if let Some(user) = user {
        std::os::unix::process::CommandExt::uid(&mut attacker, user);
        std::os::unix::process::CommandExt::gid(&mut attacker, user);
    }
    let output = attacker.output().unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    eprintln!("{stdout}");
    assert!(output.status.success(), "{stdout}{}", String::from_utf8_lossy(&output.stderr));
    let attempts: Vec<&str> = stdout.lines().filter(|line| line.contains("attempt ")).collect();
    assert_eq!(attempts.len(), 3, "{stdout}");
    for attempt in attempts {
        assert!(attempt.contains("Err("), "{attempt}");
    }
    assert_eq!(snapshot(&shelf), before, "the read-only root changed");
}

/// The attacker's side: in a user and mount namespace of its own (where it
/// holds `CAP_SYS_ADMIN`), with the root descriptor as standard input, it tries
/// to clear the read-only flag, then to create a file.
fn attack_from_a_user_namespace() {
    let dir = std::io::stdin().as_fd().try_clone_to_owned().unwrap();
    let status = fs::read_to_string("/proc/self/status").unwrap();
    let effective = status.lines().find_map(|line| line.strip_prefix("CapEff:\t")).unwrap();
    let cap_sys_admin = 1 << 21;
    assert_ne!(u64::from_str_radix(effective, 16).unwrap() & cap_sys_admin, 0, "{status}");
    println!("attempt mount_setattr clear RDONLY: {:?}", clear_read_only(&dir));
    let reopened =
        rustix::fs::openat(&dir, ".", OFlags::DIRECTORY | OFlags::CLOEXEC, Mode::empty()).unwrap();
    println!("attempt mount_setattr clear RDONLY (reopened): {:?}", clear_read_only(&reopened));
    println!(
        "attempt openat new O_CREAT|O_WRONLY: {:?}",
        rustix::fs::openat(
            &dir,
            "new",
            OFlags::CREATE | OFlags::WRONLY | OFlags::CLOEXEC,
            Mode::from_raw_mode(0o644)
        )
        .map(drop)
    );
}
