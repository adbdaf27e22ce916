//! The contract between `weft-runtime` and its supervisor, kept once for both
//! sides: the readiness line on the runtime's stdout, the exit statuses that
//! say how a session ended, and where the installer leaves precompiled
//! components for the runtime to load.

use std::fmt;

/// The line (without its newline) the runtime writes on stdout, once, when the
/// app calls `weft:app/notify.ready`. Nothing else is ever written there.
pub const READY_LINE: &[u8] = b"READY";

/// How the runtime's log (its stderr) words an app's own non-zero exit
/// status, followed by the number: `app exited with status 33`. The
/// supervisor reads it from the runtime's stderr, which carries only the
/// runtime's own messages when the app's output has its own descriptors.
pub const APP_EXIT_STATUS: &str = "app exited with status ";

/// The system's store of precompiled components: `weft-pack install` writes
/// there and the runtime loads from there (`--aot-dir`).
pub const DEFAULT_AOT_DIR: &str = "/var/lib/weft/aot";

/// The engine's part of an artifact's name: the first 8 bytes of the SHA-256
/// of `weft-aot`'s engine identity, hex (its test holds the two together).
pub const ARTIFACT_ENGINE_TAG: &str = "bbd8c1770b429b74";

/// The file name, in the store of precompiled components, of the artifact of
/// the component whose SHA-256 is `component_sha256` (hex).
pub fn artifact_file_name(component_sha256: &str) -> String {
    format!("{}-{ARTIFACT_ENGINE_TAG}.cwasm", component_sha256.to_ascii_lowercase())
}

/// How an app session ended. The numeric value is the process exit status.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Exit {
    /// The app's `run` returned (or it exited with status 0).
    Finished = 0,
    /// The runtime failed before or around the app (setup, I/O); see stderr.
    RuntimeError = 1,
    /// The command line was wrong.
    Usage = 2,
    /// The launch was refused: invalid component, or an import the manifest's
    /// capabilities do not grant.
    Refused = 3,
    /// The app trapped (a bug in the app, e.g. a panic or `unreachable`).
    Trapped = 4,
    /// The app tried to grow past its memory, table or instance limit.
    MemoryLimit = 5,
    /// The app ran past its CPU budget without yielding.
    CpuBudget = 6,
    /// The app overflowed its stack.
    StackOverflow = 7,
    /// The app exited with a non-zero status of its own.
    AppFailed = 8,
}

impl Exit {
    /// The process exit status.
    pub fn code(self) -> u8 {
        self as u8
    }

    /// The exit that `code` stands for, if it is one of the runtime's.
    pub fn from_code(code: i32) -> Option<Self> {
        [
            Self::Finished,
            Self::RuntimeError,
            Self::Usage,
            Self::Refused,
            Self::Trapped,
            Self::MemoryLimit,
            Self::CpuBudget,
            Self::StackOverflow,
            Self::AppFailed,
        ]
        .into_iter()
        .find(|exit| i32::from(exit.code()) == code)
    }
}

impl fmt::Display for Exit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Finished => "finished",
            Self::RuntimeError => "runtime error",
            Self::Usage => "usage error",
            Self::Refused => "launch refused",
            Self::Trapped => "app trapped",
            Self::MemoryLimit => "memory limit exceeded",
            Self::CpuBudget => "CPU budget exceeded",
            Self::StackOverflow => "stack overflow",
            Self::AppFailed => "app exited with an error status",
        })
    }
}

/// How a spare runtime (`weft-runtime --spare`, started ahead of any launch
/// with its engine ready) is handed the one app it will run: a single message
/// on its standard input, a `SOCK_SEQPACKET` socket, carrying this as JSON and
/// the descriptors `descriptor_options` name, in that order, as `SCM_RIGHTS`.
/// The runtime reads one message, closes the socket and runs the app exactly
/// as a cold start with `args` and those options would: a spare serves one app
/// and is never handed another.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Handover {
    /// The command line of a cold start, without the descriptor options.
    pub args: Vec<String>,
    /// The options whose values are the descriptors sent with the message
    /// (each one of [`HANDOVER_DESCRIPTOR_OPTIONS`]), in their order.
    pub descriptor_options: Vec<String>,
}

/// The options a hand-over may carry descriptors for.
pub const HANDOVER_DESCRIPTOR_OPTIONS: [&str; 6] = [
    "--app-data-fd",
    "--documents-fd",
    "--app-stdout-fd",
    "--app-stderr-fd",
    "--artifact-fd",
    "--verified-fd",
];

/// What the supervisor writes on a runtime's `--verified-fd` once the app may
/// start: every file of the package is the signed one (a launch from the
/// store) and the runtime is in its session's cgroup (a cold start, which
/// joins it after it was spawned); anything else, or the end of the pipe, and
/// the runtime refuses the launch without running any of the app.
pub const PACKAGE_VERIFIED: u8 = b'V';

/// The environment variable with which the supervisor names itself (its
/// process id) to a runtime it starts: the runtime sets its parent-death
/// signal (SIGKILL) and refuses to start when its parent is already another
/// (the supervisor spawns it without a fork, so cannot set that signal in the
/// child itself).
pub const SUPERVISOR_PID_ENV: &str = "WEFT_SUPERVISOR_PID";

/// The largest hand-over message, in bytes.
pub const MAX_HANDOVER_BYTES: usize = 64 * 1024;
