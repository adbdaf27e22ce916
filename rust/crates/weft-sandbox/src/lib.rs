//! What WEFT's sandboxed processes (the runtime, the web shells) share: a
//! seccomp allowlist, built from the system calls a process was measured to
//! make, some of them only with given arguments, and applied to every thread
//! of the process. Anything not on the list fails with `EPERM`, or the error
//! number the process chose (the runtime: `ENOSYS`).

use std::collections::BTreeMap;

use seccompiler::{
    BpfProgram, SeccompAction, SeccompCmpArgLen, SeccompCmpOp, SeccompCondition, SeccompFilter,
    SeccompRule, TargetArch,
};

/// What every sandboxed WEFT process needs once set up, whatever else it
/// does: memory, threads, signals, time, I/O on what it holds, and files
/// beneath the directories its Landlock ruleset allows (Landlock bounds them).
pub const COMMON_SYSCALLS: &[i64] = &[
    // Memory.
    libc::SYS_brk,
    libc::SYS_mmap,
    libc::SYS_munmap,
    libc::SYS_mprotect,
    libc::SYS_mremap,
    libc::SYS_madvise,
    libc::SYS_memfd_create,
    // Threads and their synchronisation.
    // (`clone` too, without namespace flags: `apply_to_all_threads` adds it.)
    libc::SYS_futex,
    libc::SYS_set_robust_list,
    libc::SYS_rseq,
    libc::SYS_sched_yield,
    libc::SYS_sched_getaffinity,
    libc::SYS_gettid,
    libc::SYS_getpid,
    libc::SYS_exit,
    libc::SYS_exit_group,
    libc::SYS_tgkill,
    // Signals.
    libc::SYS_rt_sigaction,
    libc::SYS_rt_sigprocmask,
    libc::SYS_rt_sigreturn,
    libc::SYS_sigaltstack,
    // Time and randomness.
    libc::SYS_clock_gettime,
    libc::SYS_clock_getres,
    libc::SYS_clock_nanosleep,
    libc::SYS_nanosleep,
    libc::SYS_gettimeofday,
    libc::SYS_getrandom,
    // The calling process's or thread's own usage (the CPU budget's watch).
    libc::SYS_getrusage,
    // I/O on descriptors the process holds, and polling.
    libc::SYS_read,
    libc::SYS_write,
    libc::SYS_readv,
    libc::SYS_writev,
    libc::SYS_pread64,
    libc::SYS_pwrite64,
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
    // Unnamed sockets and pipes (event-loop wake-ups), messages on held sockets.
    libc::SYS_socketpair,
    libc::SYS_pipe2,
    libc::SYS_recvfrom,
    libc::SYS_sendto,
    libc::SYS_recvmsg,
    libc::SYS_sendmsg,
    libc::SYS_shutdown,
    // The *at family beneath directories Landlock allows.
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
    libc::SYS_readlinkat,
    libc::SYS_ftruncate,
    libc::SYS_fallocate,
    libc::SYS_fsync,
    libc::SYS_fdatasync,
    libc::SYS_fadvise64,
];

/// Connecting and tuning sockets a process makes with `socket`, which each
/// process allows for the address families it may use.
pub const SOCKET_SYSCALLS: &[i64] = &[
    libc::SYS_connect,
    libc::SYS_getsockopt,
    libc::SYS_setsockopt,
    libc::SYS_getsockname,
    libc::SYS_getpeername,
    libc::SYS_sendmmsg,
    libc::SYS_recvmmsg,
];

/// The `clone` flags that make new namespaces. A sandboxed process never
/// makes one: a new user namespace would give it capabilities there, and the
/// kernel surface that comes with them. (`CLONE_NEWTIME` is left out: in
/// `clone`'s flags its bit is part of the exit signal; `clone3` is refused.)
const NAMESPACE_FLAGS: u64 = (libc::CLONE_NEWNS
    | libc::CLONE_NEWCGROUP
    | libc::CLONE_NEWUTS
    | libc::CLONE_NEWIPC
    | libc::CLONE_NEWUSER
    | libc::CLONE_NEWPID
    | libc::CLONE_NEWNET) as u64;

/// Why the filter could not be built or applied.
#[derive(Debug, thiserror::Error)]
#[error("seccomp: {0}")]
pub struct Error(String);

/// How wide an argument is, for comparing it.
#[derive(Clone, Copy, Debug)]
pub enum Width {
    /// An `int` (flags, options, families, `ioctl` requests): the low 32 bits.
    Int,
    /// A pointer or a 64-bit value: all 64 bits.
    Long,
}

impl Width {
    fn length(self) -> SeccompCmpArgLen {
        match self {
            Self::Int => SeccompCmpArgLen::Dword,
            Self::Long => SeccompCmpArgLen::Qword,
        }
    }
}

/// The system calls a process may make.
#[derive(Default)]
pub struct Allowlist {
    rules: BTreeMap<i64, Vec<SeccompRule>>,
    /// The error number a refused call fails with (`EPERM` unless set).
    refusal: Option<i32>,
}

impl Allowlist {
    /// A list allowing `calls` with any arguments.
    pub fn new(calls: &[i64]) -> Self {
        let mut list = Self::default();
        list.allow(calls);
        list
    }

    /// Refused calls fail with `errno` instead of `EPERM`: `ENOSYS` tells a
    /// library the call does not exist, so it falls back to an older one
    /// (which the list bounds in turn) where `EPERM` would end the operation.
    pub fn refuse_with(&mut self, errno: i32) -> &mut Self {
        self.refusal = Some(errno);
        self
    }

    /// Allows `calls` with any arguments.
    pub fn allow(&mut self, calls: &[i64]) -> &mut Self {
        self.rules.extend(calls.iter().map(|&call| (call, Vec::new())));
        self
    }

    /// Allows `call` only when its argument `index` is one of `values`.
    pub fn allow_when(
        &mut self,
        call: i64,
        index: u8,
        width: Width,
        values: &[u64],
    ) -> Result<&mut Self, Error> {
        // A rule per value: the kernel allows when any matches.
        let rules = conditions(index, width, SeccompCmpOp::Eq, values)?
            .into_iter()
            .map(|condition| SeccompRule::new(vec![condition]))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|error| Error(error.to_string()))?;
        self.rules.insert(call, rules);
        Ok(self)
    }

    /// Allows `ioctl` for a descriptor's own flags only (non-blocking, bytes
    /// readable, close-on-exec), never terminal or device control.
    pub fn allow_descriptor_ioctls(&mut self) -> Result<&mut Self, Error> {
        let requests = [libc::FIONBIO, libc::FIONREAD, libc::FIOCLEX];
        self.allow_when(libc::SYS_ioctl, 1, Width::Int, &requests)
    }

    /// How many system calls are on the list.
    pub fn len(&self) -> usize {
        self.rules.len()
    }

    /// How many system calls the list allows once applied (it adds `clone`,
    /// and `clone3` unless it refuses with `ENOSYS`).
    pub fn len_applied(&self) -> usize {
        let mut len = self.rules.len() + usize::from(!self.rules.contains_key(&libc::SYS_clone));
        if self.refusal != Some(libc::ENOSYS) && !self.rules.contains_key(&libc::SYS_clone3) {
            len += 1;
        }
        len
    }

    /// Whether the list is empty (then every call would fail).
    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    /// Applies the list to every thread of the process (`SECCOMP_FILTER_FLAG_TSYNC`)
    /// and returns its length. The process needs `PR_SET_NO_NEW_PRIVS` first.
    ///
    /// Every process may start threads: `clone` is added, allowed only without
    /// [`NAMESPACE_FLAGS`]. `clone3` takes its flags in memory a filter cannot
    /// read, so it is answered `ENOSYS`, on which the C library falls back to
    /// `clone`. When the list refuses with `ENOSYS` anyway, leaving `clone3`
    /// off it does that, and the list is the one filter (each filter costs the
    /// kernel a compilation). Otherwise a filter installed first answers
    /// `clone3` (of two filters the kernel takes the stricter answer: the list
    /// allows `clone3`, the first filter's `ENOSYS` wins; the list goes last
    /// because it forbids installing filters).
    pub fn apply_to_all_threads(mut self) -> Result<usize, Error> {
        let no_namespaces = SeccompCondition::new(
            0,
            SeccompCmpArgLen::Qword,
            SeccompCmpOp::MaskedEq(NAMESPACE_FLAGS),
            0,
        )
        .and_then(|condition| SeccompRule::new(vec![condition]))
        .map_err(|error| Error(error.to_string()))?;
        self.rules.insert(libc::SYS_clone, vec![no_namespaces]);
        let refusal = self.refusal.unwrap_or(libc::EPERM);
        if refusal != libc::ENOSYS {
            let clone3 = BTreeMap::from([(libc::SYS_clone3, Vec::new())]);
            install(clone3, SeccompAction::Allow, SeccompAction::Errno(libc::ENOSYS as u32))?;
            self.rules.insert(libc::SYS_clone3, Vec::new());
        }
        let allowed = self.rules.len();
        let refusal = refusal as u32;
        install(self.rules, SeccompAction::Errno(refusal), SeccompAction::Allow)?;
        Ok(allowed)
    }
}

/// Calls to refuse on top of a filter already installed: a second filter that
/// lets everything else through, so a process can enter an allowlist early
/// (wider by the calls its setup needs) and narrow it once set up. The kernel
/// takes the stricter answer of the two filters: a call is allowed only when
/// the first filter allows it and this one does not refuse it.
pub struct Narrowing {
    rules: BTreeMap<i64, Vec<SeccompRule>>,
    refusal: i32,
}

impl Narrowing {
    /// Nothing refused yet; what is refused gets `refusal` (an errno).
    pub fn new(refusal: i32) -> Self {
        Self { rules: BTreeMap::new(), refusal }
    }

    /// Refuses `calls` whatever their arguments.
    pub fn refuse(&mut self, calls: &[i64]) -> &mut Self {
        self.rules.extend(calls.iter().map(|&call| (call, Vec::new())));
        self
    }

    /// Refuses `call` unless its argument `index` is one of `values`.
    pub fn refuse_unless(
        &mut self,
        call: i64,
        index: u8,
        width: Width,
        values: &[u64],
    ) -> Result<&mut Self, Error> {
        // One rule of all the conditions: it refuses when every one holds.
        let rule = SeccompRule::new(conditions(index, width, SeccompCmpOp::Ne, values)?)
            .map_err(|error| Error(error.to_string()))?;
        self.rules.insert(call, vec![rule]);
        Ok(self)
    }

    /// Applies the refusals to every thread; returns how many calls they name.
    pub fn apply_to_all_threads(self) -> Result<usize, Error> {
        let refused = self.rules.len();
        install(self.rules, SeccompAction::Allow, SeccompAction::Errno(self.refusal as u32))?;
        Ok(refused)
    }
}

/// One condition per value: argument `index` (`width` wide) compared with it
/// by `op`.
fn conditions(
    index: u8,
    width: Width,
    op: SeccompCmpOp,
    values: &[u64],
) -> Result<Vec<SeccompCondition>, Error> {
    values
        .iter()
        .map(|&value| SeccompCondition::new(index, width.length(), op.clone(), value))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|error| Error(error.to_string()))
}

/// Builds and applies one filter to every thread: `matched` for the calls
/// `rules` name (with their conditions), `otherwise` for the rest.
fn install(
    rules: BTreeMap<i64, Vec<SeccompRule>>,
    otherwise: SeccompAction,
    matched: SeccompAction,
) -> Result<(), Error> {
    let filter = SeccompFilter::new(rules, otherwise, matched, TargetArch::x86_64)
        .map_err(|error| Error(error.to_string()))?;
    let program: BpfProgram =
        filter.try_into().map_err(|error: seccompiler::BackendError| Error(error.to_string()))?;
    seccompiler::apply_filter_all_threads(&program).map_err(|error| Error(error.to_string()))
}

#[cfg(test)]
mod tests {
    use std::process::Command;

    use super::*;

    /// Set in the child this test runs itself as: a filter is for the whole
    /// process.
    const CHILD: &str = "WEFT_SANDBOX_ALLOWLIST_CHILD";

    #[test]
    fn calls_off_the_list_or_with_other_arguments_fail_with_eperm() {
        if std::env::var_os(CHILD).is_some() {
            rustix::thread::set_no_new_privs(true).unwrap();
            let mut list = Allowlist::new(COMMON_SYSCALLS);
            list.allow_when(libc::SYS_socket, 0, Width::Int, &[libc::AF_UNIX as u64]).unwrap();
            let allowed = list.apply_to_all_threads().unwrap();
            let unix = std::os::unix::net::UnixDatagram::unbound().is_ok();
            let inet = std::net::UdpSocket::bind("127.0.0.1:0").map_err(|e| e.raw_os_error());
            let exec = Command::new("/bin/true").status().map_err(|e| e.raw_os_error());
            let thread = std::thread::spawn(|| 7).join().unwrap();
            let namespaces = [libc::CLONE_NEWUSER, libc::CLONE_NEWNS, libc::CLONE_NEWNET]
                .map(|flag| raw_clone(flag as u64 | libc::SIGCHLD as u64));
            let plain = raw_clone(libc::SIGCHLD as u64);
            println!(
                "allowed={allowed} unix={unix} inet={inet:?} exec={exec:?} thread={thread} \
                 namespaces={namespaces:?} plain={plain:?} clone3={:?}",
                raw_clone3()
            );
            return;
        }
        let report = weft_testkit::rerun_in_child(
            "tests::calls_off_the_list_or_with_other_arguments_fail_with_eperm",
            CHILD,
        );
        let expected = format!(
            "allowed={} unix=true inet=Err(Some({eperm})) exec=Err(Some({eperm})) thread=7 \
             namespaces=[Err({eperm}), Err({eperm}), Err({eperm})] plain=Ok(()) \
             clone3=Err({enosys})",
            COMMON_SYSCALLS.len() + 3,
            eperm = libc::EPERM,
            enosys = libc::ENOSYS,
        );
        assert!(report.contains(&expected), "{expected:?} not in:\n{report}");
    }

    /// Set in the child of the one-filter test.
    const ENOSYS_CHILD: &str = "WEFT_SANDBOX_ENOSYS_CHILD";

    #[test]
    fn a_list_refusing_with_enosys_is_one_filter_and_still_answers_clone3() {
        if std::env::var_os(ENOSYS_CHILD).is_some() {
            rustix::thread::set_no_new_privs(true).unwrap();
            let mut list = Allowlist::new(COMMON_SYSCALLS);
            list.refuse_with(libc::ENOSYS);
            let allowed = list.apply_to_all_threads().unwrap();
            let status = std::fs::read_to_string("/proc/self/status").unwrap();
            let filters = status.lines().find(|line| line.starts_with("Seccomp_filters:"));
            let exec = Command::new("/bin/true").status().map_err(|e| e.raw_os_error());
            let thread = std::thread::spawn(|| 7).join().unwrap();
            let namespaces = raw_clone(libc::CLONE_NEWUSER as u64 | libc::SIGCHLD as u64);
            println!(
                "allowed={allowed} {} exec={exec:?} thread={thread} namespaces={namespaces:?} \
                 clone3={:?}",
                filters
                    .unwrap_or("Seccomp_filters: ?")
                    .split_whitespace()
                    .collect::<Vec<_>>()
                    .join(" "),
                raw_clone3()
            );
            return;
        }
        let report = weft_testkit::rerun_in_child(
            "tests::a_list_refusing_with_enosys_is_one_filter_and_still_answers_clone3",
            ENOSYS_CHILD,
        );
        let expected = format!(
            "allowed={} Seccomp_filters: 1 exec=Err(Some({enosys})) thread=7 \
             namespaces=Err({enosys}) clone3=Err({enosys})",
            COMMON_SYSCALLS.len() + 1,
            enosys = libc::ENOSYS,
        );
        assert!(report.contains(&expected), "{expected:?} not in:\n{report}");
    }

    /// `clone(flags)` as an attacker in the sandbox would call it: a child
    /// that exits at once (reaped here), or the error number.
    #[expect(unsafe_code, reason = "the raw clone system call is the attack under test")]
    fn raw_clone(flags: u64) -> Result<(), i32> {
        // SAFETY: without CLONE_VM the child gets a copy of this process's
        // memory and runs on from here; it only calls _exit, which is
        // async-signal-safe and touches nothing shared.
        let pid = unsafe { libc::syscall(libc::SYS_clone, flags, 0, 0, 0, 0) };
        match pid {
            // SAFETY: see above: the child exits at once.
            0 => unsafe { libc::_exit(0) },
            -1 => Err(std::io::Error::last_os_error().raw_os_error().unwrap_or(0)),
            pid => {
                let mut status = 0;
                // SAFETY: waits for the child made above; `status` outlives the call.
                unsafe { libc::waitpid(pid as i32, &raw mut status, 0) };
                Ok(())
            }
        }
    }

    /// `clone3` with an empty argument: the error number it gets.
    #[expect(unsafe_code, reason = "the raw clone3 system call is the attack under test")]
    fn raw_clone3() -> Result<(), i32> {
        // SAFETY: a null argument of size 0 is refused by the kernel (EINVAL)
        // or the filter before any process is made.
        let result = unsafe { libc::syscall(libc::SYS_clone3, std::ptr::null::<u8>(), 0) };
        match result {
            -1 => Err(std::io::Error::last_os_error().raw_os_error().unwrap_or(0)),
            _ => Ok(()),
        }
    }
}
