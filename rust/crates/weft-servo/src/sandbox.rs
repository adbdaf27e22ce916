//! The shell's sandbox, entered after setup and before the engine starts:
//! `PR_SET_NO_NEW_PRIVS`, and a Landlock ruleset that lets the process read its
//! package (or the system UI's pages) and the system files a renderer needs
//! (libraries, fonts, Mesa's drivers) and write only its private scratch
//! directory, with TCP connections
//! only to the ports of the app's `net:fetch` origins (none without them).
//! Which hosts on those ports is enforced in the shell's fetch path
//! ([`weft_shell_core::policy::NetworkPolicy`]).

use std::fmt;
use std::path::{Path, PathBuf};

use anyhow::Context;
use landlock::{
    ABI, Access, AccessFs, AccessNet, NetPort, PathBeneath, PathFd, Ruleset, RulesetAttr,
    RulesetCreatedAttr, RulesetStatus,
};

/// The Landlock ABI the ruleset is written for (older kernels enforce what
/// they can; the report says what was enforced).
const LANDLOCK_ABI: ABI = ABI::V5;

/// What a renderer reads: libraries and their data, fonts, the dynamic
/// loader's cache, and the CPU and memory facts Servo sizes its threads by.
const SYSTEM_READ: &[&str] = &[
    "/usr",
    "/lib",
    "/lib64",
    "/nix/store",
    "/etc/fonts",
    "/etc/ld.so.cache",
    "/etc/localtime",
    "/etc/ssl",
    "/etc/ca-certificates",
    "/var/cache/fontconfig",
    "/proc/self",
    "/proc/meminfo",
    "/proc/cpuinfo",
    "/sys/devices/system/cpu",
    "/sys/fs/cgroup",
    "/dev/null",
    "/dev/urandom",
];

/// What the shell may touch.
pub struct Sandbox {
    /// The engine's private scratch directory (`TMPDIR`), the one writable place.
    pub scratch: PathBuf,
    /// Directories to read (the package, or the system UI's pages).
    pub read_only: Vec<PathBuf>,
    /// TCP ports the page may connect to (its `net:fetch` origins' ports).
    pub tcp_ports: Vec<u16>,
}

/// What was enforced.
#[derive(Debug)]
pub struct Report {
    /// Landlock's verdict.
    pub landlock: RulesetStatus,
    /// The TCP ports left open.
    pub tcp_ports: Vec<u16>,
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "landlock {:?}, TCP ports {:?}", self.landlock, self.tcp_ports)
    }
}

impl Sandbox {
    /// Restricts the whole process (every thread started afterwards).
    pub fn enter(self) -> anyhow::Result<Report> {
        rustix::thread::set_no_new_privs(true).context("setting PR_SET_NO_NEW_PRIVS")?;
        let abi = LANDLOCK_ABI;
        let mut ruleset = Ruleset::default()
            .handle_access(AccessFs::from_all(abi))?
            .handle_access(AccessNet::from_all(abi))?
            .create()?;
        let system = SYSTEM_READ.iter().map(Path::new).filter(|path| path.exists());
        for path in self.read_only.iter().map(PathBuf::as_path).chain(system) {
            let fd = PathFd::new(path).with_context(|| format!("opening {}", path.display()))?;
            let access =
                if path.is_dir() { AccessFs::from_read(abi) } else { AccessFs::ReadFile.into() };
            ruleset = ruleset.add_rule(PathBeneath::new(fd, access))?;
        }
        let scratch = PathFd::new(&self.scratch).context("opening the scratch directory")?;
        ruleset = ruleset.add_rule(PathBeneath::new(scratch, AccessFs::from_all(abi)))?;
        for &port in &self.tcp_ports {
            ruleset = ruleset.add_rule(NetPort::new(port, AccessNet::ConnectTcp))?;
        }
        let status = ruleset.restrict_self().context("applying the Landlock ruleset")?;
        Ok(Report { landlock: status.ruleset, tcp_ports: self.tcp_ports })
    }
}
