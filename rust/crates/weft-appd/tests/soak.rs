//! Soak: a thousand sessions started and ended, and a hundred killed with
//! SIGKILL, leave the daemon with the descriptors, processes and cgroups it
//! had before; twenty SIGKILLs of the daemon itself amid launches leave
//! nothing of its sessions once its successor started.

mod common;

use std::fs;
use std::path::Path;
use std::time::Instant;

use common::*;
use weft_protocol::appd::{Reply, Request};

/// Open descriptors of process `pid`.
fn open_fds(pid: u32) -> usize {
    fs::read_dir(format!("/proc/{pid}/fd")).unwrap().count()
}

/// Processes started for `fixture`'s daemon (their environment names its
/// directory: the daemon's own, which its children inherit) other than the
/// daemon `daemon` and its children.
fn strays_of(fixture_dir: &Path, daemon: u32) -> Vec<u32> {
    let needle = fixture_dir.display().to_string();
    let ours = children_of(daemon);
    fs::read_dir("/proc")
        .unwrap()
        .filter_map(|entry| entry.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|&pid| pid != daemon && !ours.contains(&pid))
        .filter(|pid| {
            fs::read(format!("/proc/{pid}/environ"))
                .is_ok_and(|environ| String::from_utf8_lossy(&environ).contains(&needle))
        })
        .collect()
}

/// The processes in the session cgroups below `root`.
fn in_session_cgroups(root: &Path) -> usize {
    entries_named(root, "session-")
        .iter()
        .map(|session| {
            fs::read_to_string(root.join(session).join("cgroup.procs"))
                .map(|procs| procs.lines().count())
                .unwrap_or(0)
        })
        .sum()
}

/// Directories below `dir` whose name starts with `prefix`.
fn entries_named(dir: &Path, prefix: &str) -> Vec<String> {
    fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| entry.file_name().into_string().ok())
        .filter(|name| name.starts_with(prefix))
        .collect()
}

#[tokio::test]
async fn built_apps_a_thousand_sessions_and_a_hundred_kills_leak_nothing() {
    let fixture =
        Fixture::with(Options { apps: &["notes"], own_cgroup: true, ..Options::default() });
    let daemon = fixture.daemon.id();
    let cgroup = fixture.cgroup.clone().unwrap();
    let sessions_dir = fixture.dir.path().join("run/weft/sessions");
    let mut client = fixture.client().await;

    // One session first, so the component's compiled artifact exists.
    let session = launch(&mut client, "org.weft.notes").await;
    wait_ready(&mut client, session).await;
    client.request(&Request::TerminateApp { session }).await.unwrap();
    assert_eq!(stopped_reason(&mut client, session).await, "terminated");
    let fds_before = open_fds(daemon);

    let started = Instant::now();
    for _ in 0..1_000 {
        let session = launch(&mut client, "org.weft.notes").await;
        wait_ready(&mut client, session).await;
        assert_eq!(client.request(&Request::TerminateApp { session }).await.unwrap(), Reply::Ok);
        assert_eq!(stopped_reason(&mut client, session).await, "terminated");
    }
    let cycles = started.elapsed();
    let started = Instant::now();
    for _ in 0..100 {
        let session = launch(&mut client, "org.weft.notes").await;
        wait_ready(&mut client, session).await;
        let pid = pid_of(&client.request(&Request::QueryRunning).await.unwrap(), session);
        kill_9(pid);
        assert_eq!(stopped_reason(&mut client, session).await, "killed by signal 9");
    }
    let kills = started.elapsed();
    println!(
        "1000 launch/terminate cycles: {:.1} s ({:.1} ms each); 100 kill -9 cycles: {:.1} s",
        cycles.as_secs_f64(),
        cycles.as_secs_f64() * 1000.0 / 1000.0,
        kills.as_secs_f64()
    );

    assert_eq!(open_fds(daemon), fds_before, "the daemon's descriptors returned to baseline");
    let (spares, children): (Vec<u32>, Vec<u32>) =
        children_of(daemon).into_iter().partition(|&child| is_spare(child));
    assert_eq!(children, Vec::<u32>::new(), "no child process is left but the spare runtime");
    assert_eq!(spares.len(), 1, "one spare runtime waits for the next launch");
    assert_eq!(entries_named(&sessions_dir, ""), Vec::<String>::new(), "no session dir is left");
    assert_eq!(entries_named(&cgroup, "session-"), Vec::<String>::new(), "no cgroup is left");
    let remembered = match client.request(&Request::QueryRunning).await.unwrap() {
        Reply::RunningApps { sessions } => sessions.len(),
        other => panic!("{other:?}"),
    };
    assert!(remembered <= 64, "stopped sessions are forgotten beyond 64: {remembered} kept");
}

#[tokio::test]
async fn built_apps_twenty_kill_9_cycles_during_launches_leave_nothing() {
    // Each app shell starts a process of its own, which no death signal of
    // the daemon's reaches: only its successor's cleanup does.
    let (mut fixture, marker, _shell) = with_forking_app_shell(700);
    let root = fixture.cgroup.clone().unwrap();
    let store = fixture.dir.path().join("store").display().to_string();
    let sessions_dir = fixture.dir.path().join("run/weft/sessions");
    let (mut launched, mut killed_with) = (0, 0);
    for cycle in 0..20u64 {
        let mut client = fixture.client().await;
        for _ in 0..20 {
            client.send(&Request::LaunchApp { app_id: "org.weft.hello".into() }).await.unwrap();
        }
        launched += 20;
        // Killed at another point of the launches each cycle.
        tokio::time::sleep(std::time::Duration::from_millis(cycle * 15)).await;
        // Runtimes handed their app by a spare name no package: they are
        // counted in the sessions' cgroups.
        killed_with += processes_mentioning(&store).len() + in_session_cgroups(&root);
        kill_9(fixture.daemon.id());
        fixture.daemon.wait().unwrap();
        fixture.restart();
        let deadline = Instant::now() + std::time::Duration::from_secs(10);
        let fixture_dir = fixture.dir.path().to_owned();
        let daemon = fixture.daemon.id();
        let leftovers = || {
            let processes = processes_mentioning(&store).len()
                + processes_mentioning(&marker).len()
                + strays_of(&fixture_dir, daemon).len();
            (processes, entries_named(&root, "session-"), entries_named(&sessions_dir, ""))
        };
        while leftovers() != (0, Vec::new(), Vec::new()) && Instant::now() < deadline {
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        assert_eq!(
            leftovers(),
            (0, Vec::new(), Vec::new()),
            "cycle {cycle}: processes, session cgroups and session sockets of dead sessions"
        );
    }
    println!(
        "20 kill -9 cycles, {launched} launches: {killed_with} session processes alive at the \
         kills, 0 processes, 0 cgroups, 0 session sockets left"
    );
    assert!(killed_with > 0, "no kill hit a running session: this test tests nothing");
}
