//! What a session's processes use, for `weftctl ps` and `top`: from the
//! session's cgroup when it has one, from `/proc` otherwise.

use std::fs;
use std::path::Path;

/// Memory in bytes and CPU time in milliseconds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Usage {
    /// Resident memory, or the cgroup's `memory.current`.
    pub memory_bytes: Option<u64>,
    /// User and system CPU time.
    pub cpu_ms: Option<u64>,
}

/// The usage of a session: the cgroup's own accounting where it exists, the sum
/// over `pids` from `/proc` for the rest.
pub fn of_session(cgroup: Option<&Path>, pids: &[u32]) -> Usage {
    let from_cgroup = cgroup.map(|dir| Usage {
        memory_bytes: read_number(&dir.join("memory.current")),
        cpu_ms: fs::read_to_string(dir.join("cpu.stat")).ok().and_then(|stat| {
            stat.lines().find_map(|line| {
                line.strip_prefix("usage_usec ")?.trim().parse::<u64>().ok().map(|us| us / 1000)
            })
        }),
    });
    let from_cgroup = from_cgroup.unwrap_or_default();
    if from_cgroup.memory_bytes.is_some() && from_cgroup.cpu_ms.is_some() {
        return from_cgroup;
    }
    let from_proc = of_processes(pids);
    Usage {
        memory_bytes: from_cgroup.memory_bytes.or(from_proc.memory_bytes),
        cpu_ms: from_cgroup.cpu_ms.or(from_proc.cpu_ms),
    }
}

/// The sum of resident memory and CPU time of `pids` (processes that are gone
/// count nothing).
pub fn of_processes(pids: &[u32]) -> Usage {
    if pids.is_empty() {
        return Usage::default();
    }
    let page = rustix::param::page_size() as u64;
    let ticks = u64::from(rustix::param::clock_ticks_per_second().max(1) as u32);
    let (mut memory, mut cpu) = (0u64, 0u64);
    for pid in pids {
        let statm = fs::read_to_string(format!("/proc/{pid}/statm")).unwrap_or_default();
        if let Some(resident) = statm.split_whitespace().nth(1).and_then(|n| n.parse::<u64>().ok())
        {
            memory += resident * page;
        }
        let stat = fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        // The command name may hold spaces and parentheses: fields count from the last ')'.
        if let Some((_, fields)) = stat.rsplit_once(')') {
            let fields: Vec<&str> = fields.split_whitespace().collect();
            // utime and stime are fields 14 and 15 of stat(5); fields[0] is field 3.
            let time: u64 =
                [11, 12].iter().filter_map(|&index| fields.get(index)?.parse::<u64>().ok()).sum();
            cpu += time * 1000 / ticks;
        }
    }
    Usage { memory_bytes: Some(memory), cpu_ms: Some(cpu) }
}

fn read_number(path: &Path) -> Option<u64> {
    fs::read_to_string(path).ok()?.trim().parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_process_uses_memory_and_the_dead_use_nothing() {
        let mine = of_processes(&[std::process::id()]);
        assert!(mine.memory_bytes.unwrap() > 1 << 20, "{mine:?}");
        let gone = of_processes(&[u32::MAX]);
        assert_eq!(gone, Usage { memory_bytes: Some(0), cpu_ms: Some(0) });
    }
}
