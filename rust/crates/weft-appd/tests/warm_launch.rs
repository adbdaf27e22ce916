//! The warm launcher: each launch is handed to the runtime started ahead, a
//! new spare is started once the app is up, no spare ever runs two apps, and
//! launches start cold when spares are off, the spare is gone or the app has
//! no stored artifact yet.

mod common;

use std::fs;

use common::*;
use weft_protocol::appd::Request;

/// Process `pid`'s command line, arguments joined by spaces.
fn cmdline(pid: u32) -> String {
    let bytes = fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
    String::from_utf8_lossy(&bytes).split('\0').collect::<Vec<_>>().join(" ").trim().to_owned()
}

/// Processes whose parent is `pid` and that were started as spares (those
/// handed an app keep that command line).
fn spares_of(pid: u32) -> Vec<u32> {
    children_of(pid).into_iter().filter(|&child| is_spare(child)).collect()
}

/// Waits (up to 10 s) until the daemon `pid` has exactly one spare that runs
/// none of `running`; returns it.
fn the_spare(pid: u32, running: &[u32]) -> u32 {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let mut spares = spares_of(pid);
        spares.retain(|spare| !running.contains(spare));
        if spares.len() == 1 {
            return spares[0];
        }
        assert!(std::time::Instant::now() < deadline, "spares of the daemon: {spares:?}");
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
}

#[tokio::test]
async fn built_apps_each_launch_is_handed_to_a_new_spare_and_no_spare_runs_two_apps() {
    let fixture = Fixture::with(Options { apps: &["hello", "notes"], ..Options::default() });
    let daemon = fixture.daemon.id();
    let mut client = fixture.client().await;
    // No artifact is stored yet: a spare cannot compile (it runs under its
    // system-call filter), so the first launch of each app starts cold and
    // the spare keeps waiting.
    for app in ["org.weft.hello", "org.weft.notes"] {
        let spare = the_spare(daemon, &[]);
        let session = launch(&mut client, app).await;
        wait_ready(&mut client, session).await;
        let pid = pid_of(&client.request(&Request::QueryRunning).await.unwrap(), session);
        assert_ne!(pid, spare, "{app} without an artifact was handed to the spare");
        assert!(cmdline(pid).contains("--package"), "{}", cmdline(pid));
        client.request(&Request::TerminateApp { session }).await.unwrap();
        assert_eq!(stopped_reason(&mut client, session).await, "terminated");
        assert_eq!(the_spare(daemon, &[]), spare, "the spare did not keep waiting");
    }
    let mut runners: Vec<(u64, u32)> = Vec::new();
    let pids = |runners: &[(u64, u32)]| runners.iter().map(|&(_, pid)| pid).collect::<Vec<_>>();
    for app in ["org.weft.hello", "org.weft.notes", "org.weft.hello"] {
        let spare = the_spare(daemon, &pids(&runners));
        let session = launch(&mut client, app).await;
        wait_ready(&mut client, session).await;
        let pid = pid_of(&client.request(&Request::QueryRunning).await.unwrap(), session);
        assert_eq!(pid, spare, "{app} did not run in the spare that waited");
        assert!(!runners.iter().any(|&(_, ran)| ran == pid), "process {pid} ran a second app");
        runners.push((session, pid));
        assert_ne!(the_spare(daemon, &pids(&runners)), spare, "no new spare after the hand-over");
    }
    // Each session still stops and is reported as usual.
    for &(session, pid) in &runners {
        client.request(&Request::TerminateApp { session }).await.unwrap();
        assert_eq!(stopped_reason(&mut client, session).await, "terminated");
        assert!(gone(pid));
    }
}

#[tokio::test]
async fn built_apps_launches_start_cold_without_a_spare() {
    // Spares off: the runtime is started for the app, its package on its
    // command line.
    let fixture = Fixture::with(Options {
        apps: &["hello"],
        env: &[("WEFT_SPARE_RUNTIME", "0")],
        ..Options::default()
    });
    let mut client = fixture.client().await;
    let session = launch(&mut client, "org.weft.hello").await;
    wait_ready(&mut client, session).await;
    let pid = pid_of(&client.request(&Request::QueryRunning).await.unwrap(), session);
    assert!(cmdline(pid).contains("--package"), "{}", cmdline(pid));
    assert_eq!(spares_of(fixture.daemon.id()), Vec::<u32>::new());

    // Spares on, but the spare is killed before the launch: the launch
    // starts cold and succeeds, and a new spare is started.
    let fixture = Fixture::with(Options { apps: &["hello"], ..Options::default() });
    let daemon = fixture.daemon.id();
    let mut client = fixture.client().await;
    let spare = the_spare(daemon, &[]);
    kill_9(spare);
    while fs::read_to_string(format!("/proc/{spare}/stat"))
        .is_ok_and(|stat| !stat.rsplit_once(')').is_some_and(|(_, rest)| rest.starts_with(" Z")))
    {
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    let session = launch(&mut client, "org.weft.hello").await;
    wait_ready(&mut client, session).await;
    let pid = pid_of(&client.request(&Request::QueryRunning).await.unwrap(), session);
    assert_ne!(pid, spare);
    assert!(cmdline(pid).contains("--package"), "{}", cmdline(pid));
    the_spare(daemon, &[pid]);
}

#[tokio::test]
async fn built_apps_a_killed_daemons_runtimes_die_with_it() {
    // The daemon spawns runtimes without a fork of itself, so each sets its
    // own parent-death signal. Apps that compute without ever reading their
    // session socket (so its end is not what stops them, and their 5 s CPU
    // budget is far off): a cold runtime, one handed over as a spare, and the
    // spare waiting, none outlives a kill -9 of the daemon by more than 2 s
    // (no successor is started to clean up, no session cgroup is killed).
    let mut fixture =
        Fixture::with(Options { apps: &["test-infinite-loop"], ..Options::default() });
    let daemon = fixture.daemon.id();
    let mut client = fixture.client().await;
    let mut runtimes = Vec::new();
    // The first launch starts cold (no stored artifact yet), the second is
    // handed to the spare.
    for _ in 0..2 {
        let session = launch(&mut client, "org.weft.test.infinite-loop").await;
        wait_ready(&mut client, session).await;
        runtimes.push(pid_of(&client.request(&Request::QueryRunning).await.unwrap(), session));
    }
    assert!(cmdline(runtimes[0]).contains("--package"), "{}", cmdline(runtimes[0]));
    assert!(is_spare(runtimes[1]), "the second launch was not handed to the spare");
    runtimes.push(the_spare(daemon, &runtimes));
    kill_9(daemon);
    fixture.daemon.wait().unwrap();
    for pid in runtimes {
        assert!(gone_within(pid, std::time::Duration::from_secs(2)), "runtime {pid} outlived");
    }
}
