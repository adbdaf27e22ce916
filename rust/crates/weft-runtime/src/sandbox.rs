//! The process sandbox, entered after setup and before any guest code runs:
//! `PR_SET_NO_NEW_PRIVS`, a Landlock ruleset that allows no path but the
//! granted directories (and, for `net:fetch`, the resolver's configuration and
//! TCP connections to the declared ports), and a seccomp allowlist of the
//! system calls the runtime needs.

use std::fs::File;
use std::path::Path;

use anyhow::{Context, Result};
use landlock::{
    ABI, Access, AccessFs, AccessNet, NetPort, PathBeneath, PathFd, Ruleset, RulesetAttr,
    RulesetCreatedAttr, RulesetStatus,
};
use weft_manifest::Access as DirAccess;
use weft_sandbox::{Allowlist, COMMON_SYSCALLS, Narrowing, SOCKET_SYSCALLS, Width};

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
/// this call. A process that entered [`enter_ahead`] keeps that filter and
/// narrows it to the same allowlist a cold start applies.
pub fn enter(spec: SandboxSpec, entered_ahead: bool) -> Result<SandboxReport> {
    rustix::thread::set_no_new_privs(true).context("setting PR_SET_NO_NEW_PRIVS")?;
    let landlock = restrict_paths(&spec).context("applying the Landlock ruleset")?;
    let network = spec.tcp_ports.is_some();
    let allowed_syscalls = if entered_ahead {
        narrow_syscalls(network).context("narrowing the seccomp filter")?
    } else {
        session_allowlist(network)?.apply_to_all_threads().context("applying the seccomp filter")?
    };
    Ok(SandboxReport { landlock, allowed_syscalls })
}

/// What a spare runtime enters before it knows its app: no new privileges
/// and the session allowlist, widened by what setting up an app needs after
/// the hand-over ([`SETUP_SYSCALLS`], a Unix socket for the session channel,
/// `prctl(PR_SET_NO_NEW_PRIVS)`) and by the network calls any app might be
/// granted. [`enter`] narrows it back once the app is set up. Nothing can be
/// executed under it: a spare never runs the installer.
pub fn enter_ahead() -> Result<usize> {
    rustix::thread::set_no_new_privs(true).context("setting PR_SET_NO_NEW_PRIVS")?;
    let mut list = session_allowlist(true)?;
    list.allow(SETUP_SYSCALLS);
    let families = [libc::AF_UNIX as u64, libc::AF_INET as u64, libc::AF_INET6 as u64];
    list.allow_when(libc::SYS_socket, 0, Width::Int, &families)?;
    let prctls =
        [libc::PR_SET_NAME as u64, libc::PR_GET_NAME as u64, libc::PR_SET_NO_NEW_PRIVS as u64];
    list.allow_when(libc::SYS_prctl, 0, Width::Int, &prctls)?;
    list.apply_to_all_threads().context("applying the seccomp filter ahead")
}

/// What setting up an app needs after a spare's hand-over and the app never
/// does: entering Landlock, narrowing the filter, replacing standard input.
const SETUP_SYSCALLS: &[i64] = &[
    libc::SYS_landlock_create_ruleset,
    libc::SYS_landlock_add_rule,
    libc::SYS_landlock_restrict_self,
    libc::SYS_seccomp,
    libc::SYS_dup2,
];

/// Refuses what [`enter_ahead`] allowed beyond the session allowlist for an
/// app with (`network`) or without the network: each call the ahead filter
/// allows and the allowlist does not is refused here, so the two together
/// allow exactly what the allowlist does. Returns the allowlist's length.
fn narrow_syscalls(network: bool) -> Result<usize> {
    let mut narrowing = Narrowing::new(libc::ENOSYS);
    narrowing.refuse(SETUP_SYSCALLS);
    narrowing.refuse_unless(libc::SYS_prctl, 0, Width::Int, &THREAD_NAME_PRCTLS)?;
    if network {
        narrowing.refuse_unless(libc::SYS_socket, 0, Width::Int, NETWORK_FAMILIES)?;
    } else {
        narrowing.refuse(SOCKET_SYSCALLS).refuse(&[libc::SYS_socket]);
    }
    narrowing.apply_to_all_threads()?;
    Ok(session_allowlist(network)?.len_applied())
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

/// What every session needs on top of [`COMMON_SYSCALLS`] (which include the
/// signals wasmtime turns faults into traps with): the rest of the `*at`
/// family that WASI's filesystem uses beneath its preopened directories
/// (Landlock bounds those) and vectored positional I/O, `pwritev2` included:
/// wasmtime-wasi appends with its `RWF_APPEND` and falls back only on
/// `ENOSYS`, so without it every append failed with `EPERM`.
const SESSION_SYSCALLS: &[i64] = &[
    libc::SYS_preadv,
    libc::SYS_pwritev,
    libc::SYS_pwritev2,
    libc::SYS_symlinkat,
    libc::SYS_linkat,
    libc::SYS_utimensat,
];

/// The address families an app with `net:fetch` may open sockets of:
/// outgoing TCP (Landlock limits the ports) and the resolver's UDP, over IPv4
/// and IPv6. Never a Unix socket (which would reach weft-appd or the
/// compositor by path), netlink or a raw or packet socket.
const NETWORK_FAMILIES: &[u64] = &[libc::AF_INET as u64, libc::AF_INET6 as u64];

/// `prctl` operations an app may make: its threads' names (std and tokio name
/// their threads).
const THREAD_NAME_PRCTLS: [u64; 2] = [libc::PR_SET_NAME as u64, libc::PR_GET_NAME as u64];

/// The session's allowlist; anything else fails with `ENOSYS`, on which
/// wasmtime-wasi and the C library fall back to an older call (still on the
/// list) where `EPERM` would fail the app's operation.
fn session_allowlist(network: bool) -> Result<Allowlist> {
    let mut list = Allowlist::new(COMMON_SYSCALLS);
    list.refuse_with(libc::ENOSYS);
    list.allow(SESSION_SYSCALLS);
    if network {
        list.allow(SOCKET_SYSCALLS);
        list.allow_when(libc::SYS_socket, 0, Width::Int, NETWORK_FAMILIES)?;
    }
    list.allow_when(libc::SYS_prctl, 0, Width::Int, &THREAD_NAME_PRCTLS)?;
    list.allow_descriptor_ioctls()?;
    // Reading limits (thread stacks) but never raising them: no new limit given.
    list.allow_when(libc::SYS_prlimit64, 2, Width::Long, &[0])?;
    Ok(list)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Set in the child this test runs itself as: a filter is for the whole
    /// process.
    const CHILD: &str = "WEFT_RUNTIME_NETWORK_FILTER_CHILD";

    /// Set in the child of the narrowing test.
    const NARROWED_CHILD: &str = "WEFT_RUNTIME_NARROWED_FILTER_CHILD";

    /// A spare's filter, entered ahead and narrowed for an app without the
    /// network, refuses what setting up needed and the app never may, as the
    /// cold start's allowlist does.
    #[test]
    fn a_filter_entered_ahead_and_narrowed_refuses_what_only_setup_needed() {
        if std::env::var_os(NARROWED_CHILD).is_some() {
            enter_ahead().unwrap();
            let errno = |result: i64| {
                if result == -1 { std::io::Error::last_os_error().raw_os_error() } else { None }
            };
            #[expect(
                unsafe_code,
                reason = "raw system calls, as an app that escaped WASI would make"
            )]
            // SAFETY: each call only queries or makes a descriptor that is
            // left open; `dup2(2, 2)` changes nothing; none touches memory.
            let probe = || unsafe {
                let unix = errno(libc::socket(libc::AF_UNIX, libc::SOCK_STREAM, 0).into());
                let inet = errno(libc::socket(libc::AF_INET, libc::SOCK_STREAM, 0).into());
                let dup2 = errno(libc::dup2(2, 2).into());
                let landlock = errno(libc::syscall(libc::SYS_landlock_create_ruleset, 0, 0, 1));
                let no_new_privs = errno(libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0).into());
                let name = errno(libc::prctl(libc::PR_GET_NAME, [0u8; 16].as_mut_ptr()).into());
                format!(
                    "unix={unix:?} inet={inet:?} dup2={dup2:?} landlock={landlock:?} \
                     no_new_privs={no_new_privs:?} name={name:?}"
                )
            };
            let ahead = probe();
            narrow_syscalls(false).unwrap();
            println!("ahead: {ahead}\nnarrowed: {}", probe());
            return;
        }
        let report = weft_testkit::rerun_in_child(
            "sandbox::tests::a_filter_entered_ahead_and_narrowed_refuses_what_only_setup_needed",
            NARROWED_CHILD,
        );
        let enosys = Some(libc::ENOSYS);
        assert!(
            report.contains(
                "ahead: unix=None inet=None dup2=None landlock=None no_new_privs=None name=None"
            ),
            "{report}"
        );
        assert!(
            report.contains(&format!(
                "narrowed: unix={enosys:?} inet={enosys:?} dup2={enosys:?} landlock={enosys:?} \
                 no_new_privs={enosys:?} name=None"
            )),
            "{report}"
        );
    }

    #[test]
    fn a_net_fetch_app_opens_ip_sockets_and_no_other_family() {
        if std::env::var_os(CHILD).is_some() {
            rustix::thread::set_no_new_privs(true).unwrap();
            session_allowlist(true).unwrap().apply_to_all_threads().unwrap();
            let errno =
                |result: std::io::Result<()>| result.err().and_then(|error| error.raw_os_error());
            let unix = errno(std::os::unix::net::UnixDatagram::unbound().map(drop));
            let unix_stream =
                errno(std::os::unix::net::UnixStream::connect("/nonexistent").map(drop));
            // Nothing listens on port 1: the socket is made and refused by the peer.
            let tcp4 = errno(std::net::TcpStream::connect("127.0.0.1:1").map(drop));
            let tcp6 = errno(std::net::TcpStream::connect("[::1]:1").map(drop));
            println!("unix={unix:?} unix_stream={unix_stream:?} tcp4={tcp4:?} tcp6={tcp6:?}");
            return;
        }
        let report = weft_testkit::rerun_in_child(
            "sandbox::tests::a_net_fetch_app_opens_ip_sockets_and_no_other_family",
            CHILD,
        );
        let (enosys, refused) = (Some(libc::ENOSYS), Some(libc::ECONNREFUSED));
        // IPv6 may be missing on a host (EADDRNOTAVAIL); never refused by the filter.
        assert!(
            report.contains(&format!(
                "unix={enosys:?} unix_stream={enosys:?} tcp4={refused:?} tcp6="
            )),
            "{report}"
        );
        assert!(!report.contains(&format!("tcp6={enosys:?}")), "{report}");
    }
}
