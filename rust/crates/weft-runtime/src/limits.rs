//! Resource limits: memory, tables and instances through a `ResourceLimiter`,
//! CPU through epoch interruption.

use std::io;
use std::time::Duration;

use serde::Deserialize;
use wasmtime::ResourceLimiter;

/// The system's limits policy: defaults, and the bounds an app's `[limits]`
/// may choose within. Read from a TOML file (`--policy`) or built in.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case", default)]
pub struct Policy {
    /// Memory cap when the manifest sets none, in bytes.
    pub default_memory_bytes: u64,
    /// Highest memory cap a manifest may ask for, in bytes.
    pub max_memory_bytes: u64,
    /// Most table elements in any one table.
    pub max_table_elements: usize,
    /// Most component/core instances.
    pub max_instances: usize,
    /// Most linear memories and tables, each.
    pub max_memories_and_tables: usize,
    /// How long the app may compute without blocking in the host, in
    /// milliseconds of CPU time, before its session ends.
    pub cpu_budget_ms: u64,
}

impl Default for Policy {
    fn default() -> Self {
        Self {
            default_memory_bytes: 128 << 20,
            max_memory_bytes: 1 << 30,
            max_table_elements: 100_000,
            max_instances: 64,
            max_memories_and_tables: 64,
            cpu_budget_ms: 5_000,
        }
    }
}

/// A limit the app ran into; carried as the error that ends the session.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum LimitExceeded {
    /// Linear memory past the cap.
    #[error("memory limit: the app asked for {requested} bytes of linear memory; its cap is {cap}")]
    Memory {
        /// Bytes asked for.
        requested: usize,
        /// The cap.
        cap: usize,
    },
    /// A table past the element cap.
    #[error("table limit: the app asked for {requested} table elements; the cap is {cap}")]
    Table {
        /// Elements asked for.
        requested: usize,
        /// The cap.
        cap: usize,
    },
    /// Computing too long without blocking.
    #[error(
        "CPU budget: the app computed for {used_ms} ms without waiting; its budget is {budget_ms} ms"
    )]
    Cpu {
        /// CPU milliseconds used in the streak.
        used_ms: u64,
        /// The budget.
        budget_ms: u64,
    },
}

/// The store's resource limiter: refuses growth past the caps with a
/// [`LimitExceeded`] error, which ends the session.
#[derive(Clone, Debug)]
pub struct Limiter {
    memory_cap: usize,
    table_cap: usize,
    instances: usize,
    memories_and_tables: usize,
}

impl Limiter {
    /// Limits for an app whose manifest asks for `manifest_memory` bytes (or
    /// nothing), under `policy`. A request above the policy's maximum is an
    /// error naming both.
    pub fn new(policy: &Policy, manifest_memory: Option<u64>) -> anyhow::Result<Self> {
        let memory = manifest_memory.unwrap_or(policy.default_memory_bytes);
        if memory > policy.max_memory_bytes {
            anyhow::bail!(
                "the manifest asks for {memory} bytes of memory; this system allows at most {}",
                policy.max_memory_bytes
            );
        }
        Ok(Self {
            memory_cap: usize::try_from(memory)?,
            table_cap: policy.max_table_elements,
            instances: policy.max_instances,
            memories_and_tables: policy.max_memories_and_tables,
        })
    }

    /// The memory cap in bytes.
    pub fn memory_cap(&self) -> usize {
        self.memory_cap
    }
}

impl ResourceLimiter for Limiter {
    fn memory_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if desired > self.memory_cap {
            return Err(LimitExceeded::Memory { requested: desired, cap: self.memory_cap }.into());
        }
        Ok(true)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if desired > self.table_cap {
            return Err(LimitExceeded::Table { requested: desired, cap: self.table_cap }.into());
        }
        Ok(true)
    }

    fn instances(&self) -> usize {
        self.instances
    }

    fn tables(&self) -> usize {
        self.memories_and_tables
    }

    fn memories(&self) -> usize {
        self.memories_and_tables
    }
}

/// How often the engine's epoch advances, and so how often a running guest is
/// checked.
pub const EPOCH_TICK: Duration = Duration::from_millis(10);

/// Watches the guest thread at every epoch tick. A *busy streak* is CPU time
/// the thread used without ever blocking (a voluntary context switch: waiting
/// in `ipc.recv`, sleeping, polling); a streak longer than the budget ends the
/// session. Preemption by other processes does not count as blocking, so a
/// loaded machine cannot hide an infinite loop, and an app that sleeps (a
/// clock) never builds a streak. An infinite loop is caught within one tick of
/// its budget.
#[derive(Debug)]
pub struct CpuWatch {
    budget: Duration,
    last_switches: u64,
    streak_start_cpu: Duration,
}

impl CpuWatch {
    /// A watch with `budget` for the calling thread (which must be the thread
    /// that runs the guest).
    pub fn new(budget: Duration) -> io::Result<Self> {
        let last_switches = voluntary_switches()?;
        Ok(Self { budget, last_switches, streak_start_cpu: thread_cpu_time() })
    }

    /// Called at each epoch tick on the guest thread; an error ends the session.
    pub fn tick(&mut self) -> Result<(), LimitExceeded> {
        let now_cpu = thread_cpu_time();
        // If the count cannot be read, keep counting the streak: failing towards
        // ending a runaway app, never towards letting it run.
        let switches = voluntary_switches().unwrap_or(self.last_switches);
        if switches != self.last_switches {
            self.last_switches = switches;
            self.streak_start_cpu = now_cpu;
        }
        let streak = now_cpu.saturating_sub(self.streak_start_cpu);
        if streak > self.budget {
            return Err(LimitExceeded::Cpu {
                used_ms: streak.as_millis() as u64,
                budget_ms: self.budget.as_millis() as u64,
            });
        }
        Ok(())
    }
}

/// How many times the calling thread blocked (its voluntary context switches),
/// from `getrusage(RUSAGE_THREAD)`: one system call, no file to keep open.
fn voluntary_switches() -> io::Result<u64> {
    let mut usage = std::mem::MaybeUninit::<libc::rusage>::zeroed();
    #[expect(unsafe_code, reason = "getrusage has no safe wrapper in rustix")]
    // SAFETY: `getrusage` writes at most one `rusage` to the pointer it is
    // given, which points to one; that `rusage` was zeroed first, a valid
    // value of the all-integer struct, so it is initialised either way.
    let (result, usage) = unsafe {
        let result = libc::getrusage(libc::RUSAGE_THREAD, usage.as_mut_ptr());
        (result, usage.assume_init())
    };
    if result != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(u64::try_from(usage.ru_nvcsw).unwrap_or(0))
}

/// CPU time used by the calling thread.
pub fn thread_cpu_time() -> Duration {
    let time = rustix::time::clock_gettime(rustix::time::ClockId::ThreadCPUTime);
    Duration::new(time.tv_sec as u64, time.tv_nsec as u32)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manifest_memory_above_policy_is_refused() {
        let policy = Policy::default();
        assert_eq!(Limiter::new(&policy, None).unwrap().memory_cap(), 128 << 20);
        assert_eq!(Limiter::new(&policy, Some(64 << 20)).unwrap().memory_cap(), 64 << 20);
        let error = Limiter::new(&policy, Some(2 << 30)).unwrap_err();
        assert!(error.to_string().contains("allows at most 1073741824"), "{error}");
    }

    /// Uses `ms` milliseconds of this thread's CPU time without blocking.
    fn spin_cpu(ms: u64) {
        let start = thread_cpu_time();
        while thread_cpu_time() - start < Duration::from_millis(ms) {
            std::hint::black_box(0);
        }
    }

    #[test]
    fn a_busy_streak_past_the_budget_is_caught_and_blocking_resets_it() {
        let mut watch = CpuWatch::new(Duration::from_millis(30)).unwrap();
        spin_cpu(20);
        assert!(watch.tick().is_ok());
        std::thread::sleep(Duration::from_millis(1));
        spin_cpu(20);
        assert!(watch.tick().is_ok(), "blocking must end the streak");
        spin_cpu(20);
        assert!(watch.tick().is_ok(), "20 + 20 ms would pass 30 ms had the streak not restarted");
        spin_cpu(20);
        assert!(matches!(watch.tick(), Err(LimitExceeded::Cpu { budget_ms: 30, .. })));
    }
}
