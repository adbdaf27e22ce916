//! The process sandbox, entered after setup and before any guest code runs:
//! `PR_SET_NO_NEW_PRIVS`, a Landlock ruleset that allows no path but the
//! granted directories (and, for `net:fetch`, the resolver's configuration and
//! TCP connections to the declared ports), and a seccomp allowlist of the
//! system calls the runtime needs.

use std::collections::BTreeMap;
use std::fs::File;
use std::path::Path;

use anyhow::{Context, Result};
use landlock::{
    ABI, Access, AccessFs, AccessNet, NetPort, PathBeneath, PathFd, Ruleset, RulesetAttr,
    RulesetCreatedAttr, RulesetStatus,
};
use seccompiler::{
    BpfProgram, SeccompAction, SeccompCmpArgLen, SeccompCmpOp, SeccompCondition, SeccompFilter,
    SeccompRule, TargetArch,
};
use weft_manifest::Access as DirAccess;

/// The Landlock ABI the ruleset is written for; older kernels enforce what they
/// can (best effort), and the log says what was enforced.
const LANDLOCK_ABI: ABI = ABI::V5;

/// Files the system resolver reads to turn a host name into addresses.
const RESOLVER_FILES: &[&str] =
    &["/etc/resolv.conf", "/etc/hosts", "/etc/nsswitch.conf", "/etc/host.conf", "/etc/gai.conf"];

/// What the sandbox lets through.
pub struct SandboxSpec {
    /// Granted directories, opened, with their access.
    pub dirs: Vec<(File, DirAccess)>,
    /// TCP ports the app may connect to (from its `net:fetch` origins); `None`
    /// when the app has no network capability at all.
    pub tcp_ports: Option<Vec<u16>>,
}

/// What was enforced, for the log and for tests.
#[derive(Debug)]
pub struct SandboxReport {
    /// Landlock's verdict.
    pub landlock: RulesetStatus,
    /// The number of system calls on the allowlist.
    pub allowed_syscalls: usize,
}

/// Enters the sandbox for the whole process. Threads that exist already get
/// the seccomp filter too (TSYNC); Landlock binds the calling thread and every
/// thread it starts afterwards, so the runtime starts its own threads after
/// this call.
pub fn enter(spec: SandboxSpec) -> Result<SandboxReport> {
    rustix::thread::set_no_new_privs(true).context("setting PR_SET_NO_NEW_PRIVS")?;
    let landlock = restrict_paths(&spec).context("applying the Landlock ruleset")?;
    let allowed_syscalls =
        restrict_syscalls(spec.tcp_ports.is_some()).context("applying the seccomp filter")?;
    Ok(SandboxReport { landlock, allowed_syscalls })
}

fn restrict_paths(spec: &SandboxSpec) -> Result<RulesetStatus> {
    let abi = LANDLOCK_ABI;
    let mut ruleset = Ruleset::default()
        .handle_access(AccessFs::from_all(abi))?
        .handle_access(AccessNet::from_all(abi))?
        .create()?;
    for (dir, access) in &spec.dirs {
        let allowed = match access {
            DirAccess::Read => AccessFs::from_read(abi),
            DirAccess::ReadWrite => AccessFs::from_all(abi),
        };
        ruleset = ruleset.add_rule(PathBeneath::new(dir, allowed))?;
    }
    if let Some(ports) = &spec.tcp_ports {
        for path in RESOLVER_FILES.iter().map(Path::new).filter(|path| path.exists()) {
            ruleset = ruleset.add_rule(PathBeneath::new(PathFd::new(path)?, AccessFs::ReadFile))?;
        }
        for &port in ports {
            ruleset = ruleset.add_rule(NetPort::new(port, AccessNet::ConnectTcp))?;
        }
    }
    Ok(ruleset.restrict_self()?.ruleset)
}

/// System calls every session needs once set up: memory, threads and their
/// synchronisation, time, randomness, signals (wasmtime turns faults into
/// traps), I/O on descriptors it holds, and the `*at` family that WASI's
/// filesystem uses beneath its preopened directories (Landlock bounds those).
const BASE_SYSCALLS: &[i64] = &[
    libc::SYS_brk,
    libc::SYS_mmap,
    libc::SYS_munmap,
    libc::SYS_mprotect,
    libc::SYS_mremap,
    libc::SYS_madvise,
    libc::SYS_memfd_create,
    libc::SYS_futex,
    libc::SYS_clone,
    libc::SYS_clone3,
    libc::SYS_set_robust_list,
    libc::SYS_rseq,
    libc::SYS_sched_yield,
    libc::SYS_sched_getaffinity,
    libc::SYS_gettid,
    libc::SYS_getpid,
    libc::SYS_exit,
    libc::SYS_exit_group,
    libc::SYS_tgkill,
    libc::SYS_rt_sigaction,
    libc::SYS_rt_sigprocmask,
    libc::SYS_rt_sigreturn,
    libc::SYS_sigaltstack,
    libc::SYS_clock_gettime,
    libc::SYS_clock_getres,
    libc::SYS_clock_nanosleep,
    libc::SYS_nanosleep,
    libc::SYS_gettimeofday,
    libc::SYS_getrandom,
    libc::SYS_read,
    libc::SYS_write,
    libc::SYS_readv,
    libc::SYS_writev,
    libc::SYS_pread64,
    libc::SYS_pwrite64,
    libc::SYS_preadv,
    libc::SYS_pwritev,
    libc::SYS_lseek,
    libc::SYS_close,
    libc::SYS_fcntl,
    libc::SYS_poll,
    libc::SYS_ppoll,
    libc::SYS_epoll_create1,
    libc::SYS_epoll_ctl,
    libc::SYS_epoll_wait,
    libc::SYS_epoll_pwait,
    libc::SYS_eventfd2,
    // tokio (under wasmtime-wasi's stdio and wasi:http) makes its signal and
    // wake-up channels lazily: unnamed pairs and pipes, reaching nothing outside.
    libc::SYS_socketpair,
    libc::SYS_pipe2,
    libc::SYS_recvfrom,
    libc::SYS_sendto,
    libc::SYS_recvmsg,
    libc::SYS_sendmsg,
    libc::SYS_shutdown,
    libc::SYS_openat,
    libc::SYS_openat2,
    libc::SYS_newfstatat,
    libc::SYS_fstat,
    libc::SYS_statx,
    libc::SYS_getdents64,
    libc::SYS_mkdirat,
    libc::SYS_unlinkat,
    libc::SYS_renameat,
    libc::SYS_renameat2,
    libc::SYS_symlinkat,
    libc::SYS_linkat,
    libc::SYS_readlinkat,
    libc::SYS_utimensat,
    libc::SYS_ftruncate,
    libc::SYS_fallocate,
    libc::SYS_fsync,
    libc::SYS_fdatasync,
    libc::SYS_fadvise64,
];

/// Added for apps with `net:fetch`: outgoing TCP (Landlock limits the ports)
/// and the resolver's UDP.
const NETWORK_SYSCALLS: &[i64] = &[
    libc::SYS_socket,
    libc::SYS_connect,
    libc::SYS_getsockopt,
    libc::SYS_setsockopt,
    libc::SYS_getsockname,
    libc::SYS_getpeername,
    libc::SYS_sendmmsg,
    libc::SYS_recvmmsg,
];

/// Builds and applies the allowlist to every thread; anything else fails with
/// `EPERM`.
fn restrict_syscalls(network: bool) -> Result<usize> {
    let mut rules: BTreeMap<i64, Vec<SeccompRule>> =
        BASE_SYSCALLS.iter().map(|&call| (call, Vec::new())).collect();
    if network {
        rules.extend(NETWORK_SYSCALLS.iter().map(|&call| (call, Vec::new())));
    }
    // Thread names only (std and tokio name their threads).
    rules.insert(
        libc::SYS_prctl,
        arg_is_one_of(0, &[libc::PR_SET_NAME as u64, libc::PR_GET_NAME as u64])?,
    );
    // Non-blocking and close-on-exec flags only, never terminal or device control.
    rules.insert(
        libc::SYS_ioctl,
        arg_is_one_of(1, &[libc::FIONBIO, libc::FIONREAD, libc::FIOCLEX])?,
    );
    // Reading limits (thread stacks) but never raising them.
    rules.insert(
        libc::SYS_prlimit64,
        vec![SeccompRule::new(vec![SeccompCondition::new(
            2,
            SeccompCmpArgLen::Qword,
            SeccompCmpOp::Eq,
            0,
        )?])?],
    );
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

/// Rules allowing the call when argument `index` equals one of `values`.
fn arg_is_one_of(index: u8, values: &[u64]) -> Result<Vec<SeccompRule>> {
    values
        .iter()
        .map(|&value| {
            let condition =
                SeccompCondition::new(index, SeccompCmpArgLen::Qword, SeccompCmpOp::Eq, value)?;
            Ok(SeccompRule::new(vec![condition])?)
        })
        .collect()
}
