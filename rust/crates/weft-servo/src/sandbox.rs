//! The shell's sandbox, entered once its window is open and before any other
//! thread or the engine starts: `PR_SET_NO_NEW_PRIVS`; a Landlock ruleset that
//! lets the process read its package (or the system UI's pages) and the
//! system files a renderer needs (libraries, fonts, Mesa's drivers), write only
//! its private scratch directory and its owner's shader cache, and make TCP connections only to the given
//! ports (an app's `net:fetch` origins' ports; weft-appd's WebSocket for the
//! system UI; none otherwise); and a seccomp allowlist of the system calls
//! the engine was measured to make (strace of the Servo suite), with sockets
//! limited to Unix ones unless TCP ports are allowed. Anything else fails
//! with `EPERM`. Which hosts on those ports is enforced in the shell's fetch
//! path ([`weft_shell_core::policy::NetworkPolicy`]).

use std::fmt;
use std::path::{Path, PathBuf};

use anyhow::Context;
use landlock::{
    ABI, Access, AccessFs, AccessNet, NetPort, PathBeneath, PathFd, Ruleset, RulesetAttr,
    RulesetCreatedAttr, RulesetStatus,
};
use weft_sandbox::{Allowlist, COMMON_SYSCALLS, SOCKET_SYSCALLS, Width};

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
    /// The engine's private scratch directory (`TMPDIR`), writable.
    pub scratch: PathBuf,
    /// The shell owner's shader cache ([`crate::shader_cache`]), writable.
    pub shader_cache: Option<PathBuf>,
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
    /// The number of system calls on the allowlist.
    pub allowed_syscalls: usize,
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "landlock {:?}, TCP ports {:?}, seccomp allowlist of {} system calls",
            self.landlock, self.tcp_ports, self.allowed_syscalls
        )
    }
}

/// What Servo, SpiderMonkey, WebRender, llvmpipe and the shell's own threads
/// make once set up, on top of [`COMMON_SYSCALLS`]: more file calls beneath
/// what Landlock allows (the engine's storage in the scratch directory), CPU
/// affinity and facts, identity queries; with [`SOCKET_SYSCALLS`], which
/// `socket` itself limits to Unix sockets without TCP ports.
const ENGINE_SYSCALLS: &[i64] = &[
    libc::SYS_dup,
    libc::SYS_dup3,
    libc::SYS_fstatfs,
    libc::SYS_access,
    libc::SYS_faccessat,
    libc::SYS_faccessat2,
    libc::SYS_readlink,
    libc::SYS_getcwd,
    libc::SYS_mkdir,
    libc::SYS_unlink,
    libc::SYS_rename,
    // Mesa locks a shader cache entry while it writes it.
    libc::SYS_flock,
    libc::SYS_fchown,
    libc::SYS_sched_setaffinity,
    libc::SYS_getuid,
    libc::SYS_geteuid,
    libc::SYS_getgid,
    libc::SYS_getegid,
    libc::SYS_sysinfo,
    libc::SYS_uname,
    libc::SYS_restart_syscall,
    libc::SYS_prlimit64,
];

impl Sandbox {
    /// Restricts the whole process: Landlock for the calling thread and every
    /// thread it starts (so call it before any other thread exists), seccomp
    /// for every thread.
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
        if let Some(cache) = &self.shader_cache {
            let fd = PathFd::new(cache).context("opening the shader cache")?;
            let access = AccessFs::from_all(abi) & !AccessFs::Execute;
            ruleset = ruleset.add_rule(PathBeneath::new(fd, access))?;
        }
        for &port in &self.tcp_ports {
            ruleset = ruleset.add_rule(NetPort::new(port, AccessNet::ConnectTcp))?;
        }
        let status = ruleset.restrict_self().context("applying the Landlock ruleset")?;
        let allowed_syscalls =
            restrict_syscalls(!self.tcp_ports.is_empty()).context("applying the seccomp filter")?;
        Ok(Report { landlock: status.ruleset, tcp_ports: self.tcp_ports, allowed_syscalls })
    }
}

/// Builds the allowlist and applies it to every thread of the process.
fn restrict_syscalls(network: bool) -> anyhow::Result<usize> {
    let mut list = Allowlist::new(COMMON_SYSCALLS);
    list.allow(ENGINE_SYSCALLS).allow(SOCKET_SYSCALLS);
    // Unix sockets always (the event loops' wake-ups); IP sockets only with
    // TCP ports (Landlock then limits TCP to those ports).
    let families: &[u64] = if network {
        &[libc::AF_UNIX as u64, libc::AF_INET as u64, libc::AF_INET6 as u64]
    } else {
        &[libc::AF_UNIX as u64]
    };
    list.allow_when(libc::SYS_socket, 0, Width::Int, families)?;
    // Thread names and names of anonymous memory, nothing else.
    let prctl = [libc::PR_SET_NAME as u64, libc::PR_GET_NAME as u64, libc::PR_SET_VMA as u64];
    list.allow_when(libc::SYS_prctl, 0, Width::Int, &prctl)?;
    list.allow_descriptor_ioctls()?;
    Ok(list.apply_to_all_threads()?)
}

#[cfg(test)]
mod tests {
    use std::io::Write;
    use std::process::Command;

    use super::*;

    /// Set in the child this test runs itself as; the sandbox is for a whole
    /// process, so each check runs in a fresh one.
    const CHILD: &str = "WEFT_SANDBOX_TEST_CHILD";

    /// Enters the sandbox allowing `package` (and TCP `ports`), then reports
    /// what each hostile attempt got, one line each.
    fn child(package: &Path, ports: Vec<u16>) {
        let scratch = tempfile::tempdir().unwrap();
        // This shell's app's shader cache, beside another app's.
        let caches = tempfile::tempdir().unwrap();
        let (own_cache, other_cache) =
            (caches.path().join("org.weft.a"), caches.path().join("org.weft.b"));
        std::fs::create_dir_all(&own_cache).unwrap();
        std::fs::create_dir_all(&other_cache).unwrap();
        let sandbox = Sandbox {
            scratch: scratch.path().to_owned(),
            shader_cache: Some(own_cache.clone()),
            read_only: vec![package.to_owned()],
            tcp_ports: ports,
        };
        let report = sandbox.enter().unwrap();
        let mut out = std::io::stdout().lock();
        let verdict = |ok: bool| if ok { "allowed" } else { "refused" };
        let results = [
            ("landlock", verdict(report.landlock == RulesetStatus::FullyEnforced)),
            ("read package", verdict(std::fs::read(package.join("index.html")).is_ok())),
            ("read /etc/passwd", verdict(std::fs::read("/etc/passwd").is_ok())),
            ("read home", verdict(std::fs::read_dir("/root").is_ok())),
            ("write scratch", verdict(std::fs::write(scratch.path().join("x"), "x").is_ok())),
            ("write own cache", verdict(std::fs::write(own_cache.join("x"), "x").is_ok())),
            ("write other cache", verdict(std::fs::write(other_cache.join("x"), "x").is_ok())),
            ("write package", verdict(std::fs::write(package.join("x"), "x").is_ok())),
            ("write /tmp", verdict(std::fs::write("/tmp/weft-sandbox-escape", "x").is_ok())),
            ("udp socket", verdict(std::net::UdpSocket::bind("127.0.0.1:0").is_ok())),
            ("tcp connect", verdict(std::net::TcpStream::connect("127.0.0.1:9").is_ok())),
            ("exec", verdict(Command::new("/bin/true").status().is_ok())),
        ];
        for (what, got) in results {
            writeln!(out, "{what}: {got}").unwrap();
        }
    }

    fn run_child(test: &str, package: &Path) -> String {
        let output = Command::new(std::env::current_exe().unwrap())
            .args([test, "--exact", "--nocapture", "--test-threads=1"])
            .env(CHILD, package)
            .output()
            .unwrap();
        String::from_utf8(output.stdout).unwrap()
    }

    #[test]
    fn the_sandbox_refuses_everything_but_its_package_scratch_and_own_cache() {
        if let Some(package) = std::env::var_os(CHILD) {
            return child(Path::new(&package), Vec::new());
        }
        let package = tempfile::tempdir().unwrap();
        std::fs::write(package.path().join("index.html"), "<h1>hi</h1>").unwrap();
        let report = run_child(
            "sandbox::tests::the_sandbox_refuses_everything_but_its_package_scratch_and_own_cache",
            package.path(),
        );
        for expected in [
            "landlock: allowed",
            "read package: allowed",
            "read /etc/passwd: refused",
            "read home: refused",
            "write scratch: allowed",
            "write own cache: allowed",
            "write other cache: refused",
            "write package: refused",
            "write /tmp: refused",
            "udp socket: refused",
            "tcp connect: refused",
            "exec: refused",
        ] {
            assert!(report.contains(expected), "{expected:?} not in:\n{report}");
        }
        assert!(!Path::new("/tmp/weft-sandbox-escape").exists());
    }
}
