//! The shell's sandbox, entered once its window is open and before any other
//! thread or the engine starts: `PR_SET_NO_NEW_PRIVS`; a Landlock ruleset that
//! lets the process read its package (or the system UI's pages) and the
//! system files a renderer needs (libraries, fonts, Mesa's drivers), write only
//! its private scratch directory, and make TCP connections only to the given
//! ports (an app's `net:fetch` origins' ports; weft-appd's WebSocket for the
//! system UI; none otherwise); and a seccomp allowlist of the system calls
//! the engine was measured to make (strace of the Servo suite), with sockets
//! limited to Unix ones unless TCP ports are allowed. Anything else fails
//! with `EPERM`. Which hosts on those ports is enforced in the shell's fetch
//! path ([`weft_shell_core::policy::NetworkPolicy`]).

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use anyhow::Context;
use landlock::{
    ABI, Access, AccessFs, AccessNet, NetPort, PathBeneath, PathFd, Ruleset, RulesetAttr,
    RulesetCreatedAttr, RulesetStatus,
};
use seccompiler::{
    BpfProgram, SeccompAction, SeccompCmpArgLen, SeccompCmpOp, SeccompCondition, SeccompFilter,
    SeccompRule, TargetArch,
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

/// The system calls Servo, SpiderMonkey, WebRender, llvmpipe and the shell's
/// own threads make once set up: memory, threads, time, signals, I/O on held
/// descriptors, files beneath what Landlock allows (its storage in the
/// scratch directory), polling and the Unix sockets of its event loops.
const SYSCALLS: &[i64] = &[
    libc::SYS_read,
    libc::SYS_write,
    libc::SYS_readv,
    libc::SYS_writev,
    libc::SYS_pread64,
    libc::SYS_pwrite64,
    libc::SYS_lseek,
    libc::SYS_close,
    libc::SYS_fcntl,
    libc::SYS_dup,
    libc::SYS_dup3,
    libc::SYS_fstat,
    libc::SYS_fstatfs,
    libc::SYS_statx,
    libc::SYS_newfstatat,
    libc::SYS_openat,
    libc::SYS_openat2,
    libc::SYS_access,
    libc::SYS_faccessat,
    libc::SYS_faccessat2,
    libc::SYS_readlink,
    libc::SYS_readlinkat,
    libc::SYS_getdents64,
    libc::SYS_getcwd,
    libc::SYS_mkdir,
    libc::SYS_mkdirat,
    libc::SYS_unlink,
    libc::SYS_unlinkat,
    libc::SYS_rename,
    libc::SYS_renameat,
    libc::SYS_renameat2,
    libc::SYS_fchown,
    libc::SYS_ftruncate,
    libc::SYS_fallocate,
    libc::SYS_fsync,
    libc::SYS_fdatasync,
    libc::SYS_fadvise64,
    libc::SYS_brk,
    libc::SYS_mmap,
    libc::SYS_munmap,
    libc::SYS_mprotect,
    libc::SYS_mremap,
    libc::SYS_madvise,
    libc::SYS_memfd_create,
    libc::SYS_futex,
    libc::SYS_sched_yield,
    libc::SYS_sched_getaffinity,
    libc::SYS_sched_setaffinity,
    libc::SYS_clone,
    libc::SYS_clone3,
    libc::SYS_set_robust_list,
    libc::SYS_rseq,
    libc::SYS_gettid,
    libc::SYS_getpid,
    libc::SYS_getuid,
    libc::SYS_geteuid,
    libc::SYS_getgid,
    libc::SYS_getegid,
    libc::SYS_sysinfo,
    libc::SYS_uname,
    libc::SYS_exit,
    libc::SYS_exit_group,
    libc::SYS_tgkill,
    libc::SYS_restart_syscall,
    libc::SYS_rt_sigaction,
    libc::SYS_rt_sigprocmask,
    libc::SYS_rt_sigreturn,
    libc::SYS_sigaltstack,
    libc::SYS_getrandom,
    libc::SYS_clock_gettime,
    libc::SYS_clock_getres,
    libc::SYS_clock_nanosleep,
    libc::SYS_nanosleep,
    libc::SYS_gettimeofday,
    libc::SYS_poll,
    libc::SYS_ppoll,
    libc::SYS_epoll_create1,
    libc::SYS_epoll_ctl,
    libc::SYS_epoll_wait,
    libc::SYS_epoll_pwait,
    libc::SYS_eventfd2,
    libc::SYS_pipe2,
    libc::SYS_socketpair,
    libc::SYS_connect,
    libc::SYS_recvfrom,
    libc::SYS_recvmsg,
    libc::SYS_sendto,
    libc::SYS_sendmsg,
    libc::SYS_shutdown,
    libc::SYS_getsockopt,
    libc::SYS_setsockopt,
    libc::SYS_getsockname,
    libc::SYS_getpeername,
    libc::SYS_sendmmsg,
    libc::SYS_recvmmsg,
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
    let mut rules: BTreeMap<i64, Vec<SeccompRule>> =
        SYSCALLS.iter().map(|&call| (call, Vec::new())).collect();
    // Unix sockets always (the event loops' wake-ups); IP sockets only with
    // TCP ports (Landlock then limits TCP to those ports).
    let families: &[u64] = if network {
        &[libc::AF_UNIX as u64, libc::AF_INET as u64, libc::AF_INET6 as u64]
    } else {
        &[libc::AF_UNIX as u64]
    };
    rules.insert(libc::SYS_socket, arg_is_one_of(0, families)?);
    // Thread names and names of anonymous memory, nothing else.
    let prctl = [libc::PR_SET_NAME as u64, libc::PR_GET_NAME as u64, libc::PR_SET_VMA as u64];
    rules.insert(libc::SYS_prctl, arg_is_one_of(0, &prctl)?);
    // Non-blocking and close-on-exec flags only, never device control.
    let ioctl = [libc::FIONBIO, libc::FIONREAD, libc::FIOCLEX];
    rules.insert(libc::SYS_ioctl, arg_is_one_of(1, &ioctl)?);
    let allowed = rules.len();
    let filter = SeccompFilter::new(
        rules,
        SeccompAction::Errno(libc::EPERM as u32),
        SeccompAction::Allow,
        TargetArch::x86_64,
    )?;
    let program: BpfProgram = filter.try_into()?;
    seccompiler::apply_filter_all_threads(&program)?;
    Ok(allowed)
}

/// Rules that allow a call whose argument `index` is one of `values`.
fn arg_is_one_of(index: u8, values: &[u64]) -> anyhow::Result<Vec<SeccompRule>> {
    values
        .iter()
        .map(|&value| {
            let condition =
                SeccompCondition::new(index, SeccompCmpArgLen::Dword, SeccompCmpOp::Eq, value)?;
            Ok(SeccompRule::new(vec![condition])?)
        })
        .collect()
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
        let sandbox = Sandbox {
            scratch: scratch.path().to_owned(),
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
    fn the_sandbox_refuses_everything_but_its_package_and_scratch() {
        if let Some(package) = std::env::var_os(CHILD) {
            return child(Path::new(&package), Vec::new());
        }
        let package = tempfile::tempdir().unwrap();
        std::fs::write(package.path().join("index.html"), "<h1>hi</h1>").unwrap();
        let report = run_child(
            "sandbox::tests::the_sandbox_refuses_everything_but_its_package_and_scratch",
            package.path(),
        );
        for expected in [
            "landlock: allowed",
            "read package: allowed",
            "read /etc/passwd: refused",
            "read home: refused",
            "write scratch: allowed",
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
