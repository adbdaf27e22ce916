//! Per-session cgroups (v2): each session's runtime and file portal run in
//! `<delegated>/session-<n>` with `memory.max`, `cpu.max` and `pids.max`, and
//! `cgroup.kill` ends the whole session at once.
//!
//! weft-appd uses the cgroup it was started in, and only when that cgroup is
//! delegated to it alone: a systemd unit with `Delegate=yes` (the NixOS module's
//! `weft-appd.service`), or any cgroup the daemon is the only process of. The
//! daemon moves itself into the leaf `<delegated>/supervisor` (cgroup v2 allows
//! no processes in a cgroup that hands controllers to its children), enables the
//! controllers it wants in `cgroup.subtree_control`, and logs what is missing.

use std::fs;
use std::io;
use std::os::fd::{AsFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::time::Duration;

use rustix::fs::{Mode, OFlags};

/// The controllers a session's limits need.
const CONTROLLERS: [&str; 3] = ["memory", "cpu", "pids"];

/// Limits written into every session's cgroup.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SessionLimits {
    /// `memory.max`: bytes, or `max`.
    pub memory_max: String,
    /// `cpu.max`: `<quota> <period>` in microseconds, or `max`.
    pub cpu_max: String,
    /// `pids.max`: processes and threads, or `max`.
    pub pids_max: String,
}

impl Default for SessionLimits {
    /// The seed's limits: 512 MiB, two CPUs' worth of time, 512 tasks.
    fn default() -> Self {
        Self {
            memory_max: (512u64 << 20).to_string(),
            cpu_max: "200000 100000".to_owned(),
            pids_max: "512".to_owned(),
        }
    }
}

/// The delegated subtree sessions are created in.
#[derive(Debug)]
pub struct Cgroups {
    root: PathBuf,
    controllers: Vec<&'static str>,
    limits: SessionLimits,
}

/// Where this process's cgroup v2 directory is, from `/proc/self/mountinfo`
/// and `/proc/self/cgroup`.
fn own_cgroup() -> io::Result<PathBuf> {
    let mountinfo = fs::read_to_string("/proc/self/mountinfo")?;
    let mount = mountinfo
        .lines()
        .find_map(|line| {
            let (fields, fs_type) = line.split_once(" - ")?;
            fs_type.starts_with("cgroup2 ").then(|| fields.split(' ').nth(4).map(PathBuf::from))?
        })
        .ok_or_else(|| io::Error::other("no cgroup2 file system is mounted"))?;
    let membership = fs::read_to_string("/proc/self/cgroup")?;
    let path = membership.lines().find_map(|line| line.strip_prefix("0::")).ok_or_else(|| {
        io::Error::other("this process is in no cgroup v2 (see /proc/self/cgroup)")
    })?;
    Ok(mount.join(path.trim_start_matches('/')))
}

impl Cgroups {
    /// Takes over the daemon's own cgroup when it is delegated to it, or says
    /// (in the log) why sessions will run without cgroups.
    pub fn detect(enabled: bool, limits: SessionLimits) -> Option<Self> {
        if !enabled {
            tracing::info!("session cgroups are off (settings or WEFT_DISABLE_CGROUP)");
            return None;
        }
        match Self::take_over(own_cgroup(), limits) {
            Ok(cgroups) => {
                let missing: Vec<_> =
                    CONTROLLERS.iter().filter(|name| !cgroups.controllers.contains(name)).collect();
                tracing::info!(
                    root = %cgroups.root.display(),
                    controllers = ?cgroups.controllers,
                    "each session runs in its own cgroup"
                );
                if !missing.is_empty() {
                    tracing::warn!(
                        ?missing,
                        "these cgroup controllers are unavailable: their limits are not enforced"
                    );
                }
                Some(cgroups)
            }
            Err(error) => {
                tracing::warn!("sessions run without cgroups (no limits, no cgroup.kill): {error}");
                None
            }
        }
    }

    fn take_over(own: io::Result<PathBuf>, limits: SessionLimits) -> io::Result<Self> {
        let root = own?;
        let context = |what: &str, error: io::Error| {
            io::Error::new(error.kind(), format!("{what} in {}: {error}", root.display()))
        };
        let me = std::process::id().to_string();
        let members = fs::read_to_string(root.join("cgroup.procs"))
            .map_err(|error| context("cannot read cgroup.procs", error))?;
        if members.lines().any(|pid| pid != me) {
            return Err(io::Error::other(format!(
                "the cgroup {} is not delegated to weft-appd alone (it holds other processes); \
                 run weft-appd as a unit with Delegate=yes",
                root.display()
            )));
        }
        let supervisor = root.join("supervisor");
        make_dir(&supervisor).map_err(|error| context("cannot create supervisor/", error))?;
        fs::write(supervisor.join("cgroup.procs"), &me)
            .map_err(|error| context("cannot move weft-appd into supervisor/", error))?;
        remove_stale_sessions(&root);
        let available = fs::read_to_string(root.join("cgroup.controllers"))
            .map_err(|error| context("cannot read cgroup.controllers", error))?;
        let mut controllers = Vec::new();
        for name in CONTROLLERS {
            if !available.split_whitespace().any(|present| present == name) {
                continue;
            }
            match fs::write(root.join("cgroup.subtree_control"), format!("+{name}")) {
                Ok(()) => controllers.push(name),
                Err(error) => tracing::warn!("cannot enable the {name} controller: {error}"),
            }
        }
        Ok(Self { root, controllers, limits })
    }

    /// Creates the cgroup of `session` with its limits; an app's own
    /// `limits.cpu` (percent of one core) tightens `cpu.max` further.
    pub fn create(&self, session: u64, cpu_percent: Option<u32>) -> io::Result<SessionCgroup> {
        let dir = self.root.join(format!("session-{session}"));
        make_dir(&dir)?;
        let cpu_max = tighter_cpu_max(&self.limits.cpu_max, cpu_percent);
        let configured = self.configure(&dir, &cpu_max);
        if configured.is_err() {
            let _ = fs::remove_dir(&dir);
        }
        Ok(SessionCgroup { procs: configured?, dir })
    }

    /// Writes the limits into a new cgroup and opens its `cgroup.procs`.
    fn configure(&self, dir: &Path, cpu_max: &str) -> io::Result<OwnedFd> {
        for (controller, file, value) in [
            ("memory", "memory.max", self.limits.memory_max.as_str()),
            ("cpu", "cpu.max", cpu_max),
            ("pids", "pids.max", self.limits.pids_max.as_str()),
        ] {
            if self.controllers.contains(&controller) {
                fs::write(dir.join(file), value).map_err(|error| {
                    io::Error::new(error.kind(), format!("writing {file}={value}: {error}"))
                })?;
            }
        }
        Ok(rustix::fs::open(
            dir.join("cgroup.procs"),
            OFlags::WRONLY | OFlags::CLOEXEC,
            Mode::empty(),
        )?)
    }
}

/// How often, and how far apart, removing a killed cgroup is tried before it
/// is left in place (2 s in all).
const REMOVE_TRIES: usize = 200;
const REMOVE_PAUSE: Duration = Duration::from_millis(10);

/// Kills and removes the session cgroups a previous weft-appd left in the
/// subtree (it was killed, and what its sessions' processes had started
/// outlived it), saying so in the log.
fn remove_stale_sessions(root: &Path) {
    let Ok(entries) = fs::read_dir(root) else { return };
    for entry in entries.flatten() {
        let name = entry.file_name();
        if !name.to_string_lossy().starts_with("session-") || !entry.path().is_dir() {
            continue;
        }
        let dir = entry.path();
        let left = fs::read_to_string(dir.join("cgroup.procs")).unwrap_or_default().lines().count();
        if let Err(error) = fs::write(dir.join("cgroup.kill"), "1") {
            tracing::warn!(cgroup = %dir.display(), "cannot kill a previous daemon's session: {error}");
        }
        // The kernel empties the cgroup once the killed processes are gone.
        let removed = (0..REMOVE_TRIES).any(|_| {
            let done = fs::remove_dir(&dir).is_ok() || !dir.exists();
            if !done {
                std::thread::sleep(REMOVE_PAUSE);
            }
            done
        });
        if removed {
            tracing::info!(cgroup = %dir.display(), processes = left, "killed and removed a previous daemon's session");
        } else {
            tracing::warn!(cgroup = %dir.display(), "a previous daemon's session did not empty; left in place");
        }
    }
}

/// The cgroup v2 period `cpu.max` quotas are written against, in µs.
const CPU_PERIOD_US: u64 = 100_000;

/// The session's `cpu.max`: the system's (`<quota> <period>` or `max`), or
/// the app's `percent` of one core when that is less.
fn tighter_cpu_max(system: &str, percent: Option<u32>) -> String {
    let Some(percent) = percent else { return system.to_owned() };
    let app_quota = u64::from(percent) * CPU_PERIOD_US / 100;
    let system_share = match system.split_once(' ') {
        Some((quota, period)) => quota.parse::<u64>().ok().zip(period.parse::<u64>().ok()),
        None => None,
    };
    match system_share {
        // Compared as shares of a core: quota / period.
        Some((quota, period))
            if u128::from(quota) * u128::from(CPU_PERIOD_US)
                <= u128::from(app_quota) * u128::from(period) =>
        {
            system.to_owned()
        }
        _ => format!("{app_quota} {CPU_PERIOD_US}"),
    }
}

fn make_dir(path: &Path) -> io::Result<()> {
    match fs::create_dir(path) {
        Err(error) if error.kind() == io::ErrorKind::AlreadyExists => Ok(()),
        other => other,
    }
}

/// One session's cgroup; removed (after killing what is left in it) by
/// [`SessionCgroup::remove`].
#[derive(Debug)]
pub struct SessionCgroup {
    dir: PathBuf,
    /// `cgroup.procs`, open for writing, so a child can join before `exec`.
    procs: OwnedFd,
}

impl SessionCgroup {
    /// The cgroup's directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Makes `command`'s child join this cgroup before it executes, so nothing
    /// it runs is ever outside it.
    pub fn enter_on_spawn(&self, command: &mut tokio::process::Command) -> io::Result<()> {
        let procs = self.procs.as_fd().try_clone_to_owned()?;
        #[expect(unsafe_code, reason = "pre_exec is how a child joins a cgroup before exec")]
        // SAFETY: the closure runs in the forked child before exec and makes one
        // write(2) of a constant on a descriptor opened beforehand ("0" moves
        // the writing process); it allocates nothing and touches no lock.
        unsafe {
            command.pre_exec(move || {
                rustix::io::write(&procs, b"0")?;
                Ok(())
            });
        }
        Ok(())
    }

    /// Moves the running process `pid` into this cgroup (a spare runtime,
    /// before it is handed its app).
    pub fn adopt(&self, pid: u32) -> io::Result<()> {
        rustix::io::write(&self.procs, pid.to_string().as_bytes())?;
        Ok(())
    }

    /// Whether the kernel killed something in the session for exceeding
    /// `memory.max` (`oom_kill` in `memory.events`).
    pub fn memory_limit_hit(&self) -> bool {
        fs::read_to_string(self.dir.join("memory.events")).is_ok_and(|events| {
            events
                .lines()
                .any(|line| line.strip_prefix("oom_kill ").is_some_and(|count| count.trim() != "0"))
        })
    }

    /// The processes in the cgroup.
    pub fn pids(&self) -> Vec<u32> {
        fs::read_to_string(self.dir.join("cgroup.procs"))
            .map(|procs| procs.lines().filter_map(|pid| pid.parse().ok()).collect())
            .unwrap_or_default()
    }

    /// Kills everything left in the cgroup (`cgroup.kill`), waits for it to
    /// empty and removes it.
    pub async fn remove(self) {
        if let Err(error) = fs::write(self.dir.join("cgroup.kill"), "1") {
            tracing::warn!(cgroup = %self.dir.display(), "cgroup.kill failed: {error}");
        }
        // The kernel empties the cgroup once the killed processes are reaped.
        for _ in 0..REMOVE_TRIES {
            match fs::remove_dir(&self.dir) {
                Ok(()) => return,
                Err(error) if error.kind() == io::ErrorKind::NotFound => return,
                Err(_) => tokio::time::sleep(REMOVE_PAUSE).await,
            }
        }
        tracing::warn!(cgroup = %self.dir.display(), pids = ?self.pids(), "the session's cgroup did not empty; left in place");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_apps_cpu_limit_tightens_the_systems_and_never_loosens_it() {
        assert_eq!(tighter_cpu_max("200000 100000", None), "200000 100000");
        assert_eq!(tighter_cpu_max("200000 100000", Some(10)), "10000 100000");
        assert_eq!(tighter_cpu_max("200000 100000", Some(400)), "200000 100000");
        assert_eq!(tighter_cpu_max("50000 50000", Some(150)), "50000 50000");
        assert_eq!(tighter_cpu_max("max", Some(25)), "25000 100000");
        assert_eq!(tighter_cpu_max("max", None), "max");
    }
}
