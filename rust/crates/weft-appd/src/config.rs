//! Where the supervisor finds things, from the environment (the NixOS module
//! and the tests set these).

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, Result, bail};

use crate::cgroup::SessionLimits;

/// The supervisor's configuration.
#[derive(Clone, Debug)]
pub struct Config {
    /// `$XDG_RUNTIME_DIR/weft`: the control socket and the session directories.
    pub runtime_dir: PathBuf,
    /// The `weft-runtime` binary (`WEFT_RUNTIME_BIN`, else beside this binary).
    pub runtime_bin: PathBuf,
    /// The `weft-file-portal` binary (`WEFT_FILE_PORTAL_BIN`, else beside this binary).
    pub portal_bin: PathBuf,
    /// The store of precompiled components (`WEFT_AOT_DIR`).
    pub aot_dir: PathBuf,
    /// The trusted keys directory (`WEFT_TRUSTED_KEYS`).
    pub trusted_keys: PathBuf,
    /// The app store roots (see `weft_pack::store`).
    pub store_roots: Vec<PathBuf>,
    /// Where apps' `app-data` directories live (`$XDG_DATA_HOME/weft/app-data`).
    pub app_data_root: PathBuf,
    /// The user's documents directory (`XDG_DOCUMENTS_DIR`, else `~/Documents`).
    pub documents_dir: PathBuf,
    /// How long an app has to report READY (`WEFT_READY_TIMEOUT_MS`, default 30 s).
    pub ready_timeout: Duration,
    /// How long a terminated app has between SIGTERM and SIGKILL
    /// (`WEFT_STOP_GRACE_MS`, default 3 s).
    pub stop_grace: Duration,
    /// The WebSocket port on 127.0.0.1 (`WEFT_APPD_WS_PORT`, default 7410; 0
    /// picks a free port, written to `appd.ws-port`).
    pub ws_port: u16,
    /// Origins allowed to open the WebSocket (`WEFT_APPD_WS_ORIGINS`,
    /// comma-separated; default the system UI's `weft://system`).
    pub ws_origins: Vec<String>,
    /// The per-app UI shell started after READY (`WEFT_APP_SHELL_BIN`, none by
    /// default), run as `<shell> <app-id> <session>`.
    pub app_shell_bin: Option<PathBuf>,
    /// The compositor's control socket (`WEFT_COMPOSITOR_SOCKET`): when set,
    /// each app shell gets its session's own Wayland socket.
    pub compositor_socket: Option<PathBuf>,
    /// The image mount helper (`WEFT_MOUNT_HELPER`): when set, apps launch
    /// from their signed image, mounted read-only through dm-verity by this
    /// program (`<helper> mount|unmount <app-id>`), instead of from the store.
    pub mount_helper: Option<PathBuf>,
    /// What happens when an app fails.
    pub restart: RestartPolicy,
    /// Each session's cgroup limits (`WEFT_SESSION_MEMORY_MAX`,
    /// `WEFT_SESSION_CPU_MAX`, `WEFT_SESSION_PIDS_MAX`, in cgroup v2 syntax).
    pub session_limits: SessionLimits,
}

/// Whether and how often a failed app is started again in its session.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RestartPolicy {
    /// Restart after a failure (`WEFT_RESTART=on-failure`; default `never`). A
    /// failure is any end but a clean exit 0 or a requested termination.
    pub on_failure: bool,
    /// Restarts per session at most (`WEFT_RESTART_MAX`, default 3).
    pub max_restarts: u32,
    /// The wait before the first restart, doubled for each one after it
    /// (`WEFT_RESTART_BACKOFF_MS`, default 500 ms).
    pub backoff: Duration,
}

impl RestartPolicy {
    /// The wait before restart number `restart` (1-based).
    pub fn backoff_before(&self, restart: u32) -> Duration {
        self.backoff.saturating_mul(1 << restart.saturating_sub(1).min(16))
    }
}

fn env_path(name: &str) -> Option<PathBuf> {
    std::env::var_os(name).filter(|value| !value.is_empty()).map(PathBuf::from)
}

fn env_millis(name: &str, default: u64) -> Result<Duration> {
    match std::env::var(name) {
        Ok(value) => Ok(Duration::from_millis(
            value.parse().with_context(|| format!("{name}={value:?} is not milliseconds"))?,
        )),
        Err(_) => Ok(Duration::from_millis(default)),
    }
}

fn env_or(name: &str, default: &str) -> String {
    std::env::var(name).ok().filter(|value| !value.is_empty()).unwrap_or_else(|| default.to_owned())
}

impl Config {
    /// Reads the configuration from the environment.
    pub fn from_env() -> Result<Self> {
        let xdg_runtime = env_path("XDG_RUNTIME_DIR").context("XDG_RUNTIME_DIR is not set")?;
        let home = env_path("HOME").unwrap_or_else(|| PathBuf::from("/"));
        let data_home = env_path("XDG_DATA_HOME").unwrap_or_else(|| home.join(".local/share"));
        let runtime_bin = match env_path("WEFT_RUNTIME_BIN") {
            Some(path) => path,
            None => std::env::current_exe()?.with_file_name("weft-runtime"),
        };
        let portal_bin = match env_path("WEFT_FILE_PORTAL_BIN") {
            Some(path) => path,
            None => std::env::current_exe()?.with_file_name("weft-file-portal"),
        };
        Ok(Self {
            runtime_dir: xdg_runtime.join("weft"),
            runtime_bin,
            portal_bin,
            aot_dir: env_path("WEFT_AOT_DIR")
                .unwrap_or_else(|| PathBuf::from(weft_pack::store::SYSTEM_AOT_DIR)),
            trusted_keys: env_path(weft_pack::keys::TRUSTED_KEYS_ENV)
                .unwrap_or_else(|| PathBuf::from(weft_pack::keys::DEFAULT_TRUSTED_KEYS_DIR)),
            store_roots: weft_pack::store::store_roots(),
            app_data_root: data_home.join("weft/app-data"),
            documents_dir: env_path("XDG_DOCUMENTS_DIR").unwrap_or_else(|| home.join("Documents")),
            ready_timeout: env_millis("WEFT_READY_TIMEOUT_MS", 30_000)?,
            stop_grace: env_millis("WEFT_STOP_GRACE_MS", 3_000)?,
            ws_port: match std::env::var("WEFT_APPD_WS_PORT") {
                Ok(port) => port
                    .parse()
                    .with_context(|| format!("WEFT_APPD_WS_PORT={port:?} is not a port"))?,
                Err(_) => 7410,
            },
            ws_origins: std::env::var("WEFT_APPD_WS_ORIGINS")
                .unwrap_or_else(|_| "weft://system".to_owned())
                .split(',')
                .map(|origin| origin.trim().to_owned())
                .filter(|origin| !origin.is_empty())
                .collect(),
            app_shell_bin: env_path("WEFT_APP_SHELL_BIN"),
            compositor_socket: env_path("WEFT_COMPOSITOR_SOCKET"),
            mount_helper: env_path("WEFT_MOUNT_HELPER"),
            restart: RestartPolicy {
                on_failure: match env_or("WEFT_RESTART", "never").as_str() {
                    "never" => false,
                    "on-failure" => true,
                    other => bail!("WEFT_RESTART={other:?}: expected never or on-failure"),
                },
                max_restarts: {
                    let max = env_or("WEFT_RESTART_MAX", "3");
                    max.parse()
                        .with_context(|| format!("WEFT_RESTART_MAX={max:?} is not a count"))?
                },
                backoff: env_millis("WEFT_RESTART_BACKOFF_MS", 500)?,
            },
            session_limits: {
                let defaults = SessionLimits::default();
                SessionLimits {
                    memory_max: env_or("WEFT_SESSION_MEMORY_MAX", &defaults.memory_max),
                    cpu_max: env_or("WEFT_SESSION_CPU_MAX", &defaults.cpu_max),
                    pids_max: env_or("WEFT_SESSION_PIDS_MAX", &defaults.pids_max),
                }
            },
        })
    }

    /// The control socket.
    pub fn socket_path(&self) -> PathBuf {
        self.runtime_dir.join("appd.sock")
    }

    /// The file holding this boot's WebSocket token (0600).
    pub fn token_path(&self) -> PathBuf {
        self.runtime_dir.join("appd.token")
    }

    /// The file holding the WebSocket's actual port.
    pub fn ws_port_path(&self) -> PathBuf {
        self.runtime_dir.join("appd.ws-port")
    }
}
