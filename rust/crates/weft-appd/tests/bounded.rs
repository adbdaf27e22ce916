//! A local user's cheap connections cannot exhaust weft-appd: half-open
//! WebSocket connections (no HTTP upgrade, no token needed to open one) are
//! closed after the handshake timeout or refused beyond the cap of pending
//! upgrades, a full descriptor table is not retried in a busy loop, and a Unix
//! client that never says HELLO is closed. Real sockets against the real
//! daemon, with systemd's default soft limit of 1,024 descriptors. And a store
//! planted with a FIFO, a 1 MB signed id and 4,000 broken entries still gets
//! the app list answered.

mod common;

use std::fs;
use std::io::Read;
use std::net::TcpStream;
use std::os::unix::net::UnixStream;
use std::time::{Duration, Instant};

use common::*;
use rustix::process::{Pid, Resource, Rlimit, getrlimit, prlimit, setrlimit};
use weft_protocol::appd::{Reply, Request};

/// The daemon's user and system CPU time so far.
fn cpu_time(pid: u32) -> Duration {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let fields: Vec<&str> = stat[stat.rfind(')').unwrap() + 2..].split(' ').collect();
    // utime and stime are fields 14 and 15, in clock ticks (100 a second).
    let ticks: u64 = fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap();
    Duration::from_millis(ticks * 10)
}

fn open_descriptors(pid: u32) -> usize {
    fs::read_dir(format!("/proc/{pid}/fd")).unwrap().count()
}

#[tokio::test]
async fn built_apps_half_open_websockets_neither_block_a_launch_nor_busy_the_daemon() {
    let fixture = Fixture::start(&["hello"], 30_000);
    let pid = fixture.daemon.id();
    let limit = Rlimit { current: Some(1024), maximum: Some(1024) };
    prlimit(Pid::from_raw(pid as i32), Resource::Nofile, limit).unwrap();
    // This test holds 1,500 connections itself.
    let own = getrlimit(Resource::Nofile);
    setrlimit(Resource::Nofile, Rlimit { current: own.maximum, maximum: own.maximum }).unwrap();
    let port: u16 = fs::read_to_string(fixture.dir.path().join("run/weft/appd.ws-port"))
        .unwrap()
        .parse()
        .unwrap();

    // Until one cannot connect any more (a daemon that stops accepting leaves
    // the listen backlog full).
    let address = std::net::SocketAddr::from(([127, 0, 0, 1], port));
    let held: Vec<TcpStream> = (0..1_500)
        .map_while(|_| TcpStream::connect_timeout(&address, Duration::from_secs(2)).ok())
        .collect();
    assert!(held.len() >= 1_000, "only {} connections opened", held.len());
    // The daemon is not spinning on a full descriptor table.
    let before = cpu_time(pid);
    std::thread::sleep(Duration::from_secs(2));
    let busy = cpu_time(pid) - before;
    assert!(busy < Duration::from_millis(600), "weft-appd used {busy:?} of CPU in 2 s");
    // The operator still launches an app.
    let launched = tokio::time::timeout(Duration::from_secs(30), async {
        let mut client = fixture.client().await;
        let session = launch(&mut client, "org.weft.hello").await;
        wait_ready(&mut client, session).await;
    })
    .await;
    assert!(launched.is_ok(), "no launch within 30 s while the connections are held");
    // The half-open connections are closed after the handshake timeout.
    let deadline = Instant::now() + Duration::from_secs(15);
    while open_descriptors(pid) > 100 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(200));
    }
    assert!(
        open_descriptors(pid) <= 100,
        "weft-appd still holds {} descriptors",
        open_descriptors(pid)
    );
    drop(held);
}

#[test]
fn unix_clients_that_never_say_hello_are_closed() {
    let fixture = Fixture::start(&[], 30_000);
    let pid = fixture.daemon.id();
    let baseline = open_descriptors(pid);
    let mut silent: Vec<UnixStream> =
        (0..50).map(|_| UnixStream::connect(fixture.socket()).unwrap()).collect();
    let started = Instant::now();
    let mut answer = Vec::new();
    silent[0].set_read_timeout(Some(Duration::from_secs(15))).unwrap();
    // The refusal, then the end of the connection.
    silent[0].read_to_end(&mut answer).unwrap();
    assert!(started.elapsed() >= Duration::from_secs(4), "closed after {:?}", started.elapsed());
    assert!(String::from_utf8_lossy(&answer).contains("the first message must be HELLO"));
    // The daemon's side of every one of them is closed too.
    let deadline = Instant::now() + Duration::from_secs(5);
    while open_descriptors(pid) > baseline + 2 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(
        open_descriptors(pid) <= baseline + 2,
        "weft-appd holds {} descriptors, {baseline} before 50 silent clients",
        open_descriptors(pid)
    );
    drop(silent);
}

#[tokio::test]
async fn built_apps_broken_store_entries_leave_the_app_list_answering() {
    let fixture = Fixture::start(&["hello"], 30_000);
    let store = fixture.dir.path().join("store");
    // (Broken entries are listed in name order until the reply is full: these
    // two sort before the 4,000.)
    // A signature file that is a FIFO: opening it blocking would hang forever.
    let fifo = store.join("org.weft.a-fifo");
    fs::create_dir(&fifo).unwrap();
    rustix::fs::mknodat(
        rustix::fs::CWD,
        fifo.join("wapp.sig"),
        rustix::fs::FileType::Fifo,
        rustix::fs::Mode::from_raw_mode(0o644),
        0,
    )
    .unwrap();
    // A statement signed by the trusted key with a 1 MB id.
    let big = fixture.dir.path().join("packages/big");
    weft_testkit::copy_tree(&weft_testkit::built_package("hello"), &big);
    let key = weft_pack::keys::load_signing_key(&fixture.dir.path().join("dev.key")).unwrap();
    let mut statement = weft_pack::sign_package(&big, &key).unwrap();
    statement.id = "a".repeat(1 << 20);
    fs::write(big.join("wapp.sig"), statement.sign(&key)).unwrap();
    fs::rename(&big, store.join("org.weft.a-bigid")).unwrap();
    // 4,000 entries whose errors alone would overflow a reply.
    for n in 0..4_000 {
        let dir = store.join(format!("org.weft.broken{n:04}.{}", "x".repeat(100)));
        fs::create_dir(&dir).unwrap();
        fs::write(dir.join("wapp.sig"), "not a signature").unwrap();
    }

    let mut client = fixture.client().await;
    let reply =
        tokio::time::timeout(Duration::from_secs(60), client.request(&Request::QueryInstalledApps))
            .await
            .expect("no answer within 60 s")
            .unwrap();
    let Reply::InstalledApps { apps } = reply else { panic!("{reply:?}") };
    let find =
        |id: &str| apps.iter().find(|app| app.app_id == id).unwrap_or_else(|| panic!("no {id}"));
    assert_eq!(find("org.weft.hello").error, None);
    let fifo = find("org.weft.a-fifo").error.clone().unwrap();
    assert!(fifo.contains("not a regular file but a FIFO"), "{fifo}");
    let big = find("org.weft.a-bigid").error.clone().unwrap();
    assert!(big.len() <= 1024 && big.ends_with('…'), "{} bytes", big.len());
    let summary = apps.last().unwrap().error.clone().unwrap();
    assert!(summary.ends_with("more store entries are not listed: the reply is full"), "{summary}");
    // The daemon answers on.
    assert!(matches!(
        client.request(&Request::QueryRunning).await.unwrap(),
        Reply::RunningApps { .. }
    ));
}
