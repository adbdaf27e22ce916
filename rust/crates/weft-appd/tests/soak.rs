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

/// Processes whose parent is `pid`.
fn children_of(pid: u32) -> Vec<u32> {
    fs::read_dir("/proc")
        .unwrap()
        .filter_map(|entry| entry.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|child| {
            let stat = fs::read_to_string(format!("/proc/{child}/stat")).unwrap_or_default();
            stat.rsplit_once(')')
                .and_then(|(_, fields)| fields.split_whitespace().nth(1)?.parse::<u32>().ok())
                == Some(pid)
        })
        .collect()
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
    assert_eq!(children_of(daemon), Vec::<u32>::new(), "no child process is left");
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
        killed_with += processes_mentioning(&store).len();
        kill_9(fixture.daemon.id());
        fixture.daemon.wait().unwrap();
        fixture.restart();
        let deadline = Instant::now() + std::time::Duration::from_secs(10);
        let leftovers = || {
            let processes =
                processes_mentioning(&store).len() + processes_mentioning(&marker).len();
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
