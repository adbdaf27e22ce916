//! The supervisor's configuration: the settings file (`--config`, see
//! [`crate::settings`]) over the defaults, with environment variables over
//! both (development and tests set these).

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result, bail};

use crate::cgroup::SessionLimits;
use crate::image_mounts::ImageMounts;
use crate::settings::Settings;

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
    /// The app store roots (see `weft_verify::store`).
    pub store_roots: Vec<PathBuf>,
    /// Where weft-appd keeps what must survive it: the version ledger
    /// (`$STATE_DIRECTORY`, else `$XDG_STATE_HOME/weft`, else
    /// `~/.local/state/weft`; see [`crate::versions`]).
    pub state_dir: PathBuf,
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
    /// Who mounts apps' signed images (`mount-socket` / `WEFT_MOUNT_SOCKET`,
    /// or `mount-helper` / `WEFT_MOUNT_HELPER`): when set, apps launch from
    /// their signed image, mounted read-only through dm-verity, instead of
    /// from the store.
    pub image_mounts: Option<ImageMounts>,
    /// The app images the launcher lists when apps launch from images
    /// (`WEFT_IMAGES_DIR`, default the mount helper's `/var/lib/weft/images`).
    pub images_dir: PathBuf,
    /// Whether sessions get cgroups (settings `cgroups`; `WEFT_DISABLE_CGROUP`
    /// turns them off).
    pub cgroups: bool,
    /// Whether one runtime is kept started ahead for the next launch
    /// (settings `spare-runtime`; `WEFT_SPARE_RUNTIME=0` turns it off).
    pub spare_runtime: bool,
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

/// `name` parsed as milliseconds when set, else `setting` milliseconds.
fn env_millis(name: &str, setting: Option<u64>) -> Result<Duration> {
    match std::env::var(name) {
        Ok(value) => Ok(Duration::from_millis(
            value.parse().with_context(|| format!("{name}={value:?} is not milliseconds"))?,
        )),
        Err(_) => Ok(Duration::from_millis(setting.unwrap_or_default())),
    }
}

fn env_or(name: &str, setting: Option<String>) -> String {
    std::env::var(name).ok().filter(|value| !value.is_empty()).or(setting).unwrap_or_default()
}

impl Config {
    /// The configuration from the settings file (when given) over the
    /// defaults, with environment variables over both.
    pub fn load(settings_file: Option<&Path>) -> Result<Self> {
        let file = match settings_file {
            Some(path) => Settings::read(path)?,
            None => Settings::default(),
        };
        let settings = file.or(Settings::defaults());
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
        let origins = match std::env::var("WEFT_APPD_WS_ORIGINS") {
            Ok(list) => list.split(',').map(str::to_owned).collect(),
            Err(_) => settings.ws_origins.unwrap_or_default(),
        };
        Ok(Self {
            runtime_dir: xdg_runtime.join("weft"),
            runtime_bin,
            portal_bin,
            aot_dir: env_path("WEFT_AOT_DIR").or(settings.aot_dir).unwrap_or_default(),
            trusted_keys: env_path(weft_verify::keys::TRUSTED_KEYS_ENV)
                .or(settings.trusted_keys)
                .unwrap_or_default(),
            store_roots: weft_verify::store::store_roots(),
            state_dir: crate::versions::state_dir()
                .context("no state directory: set STATE_DIRECTORY, XDG_STATE_HOME or HOME")?,
            app_data_root: data_home.join("weft/app-data"),
            documents_dir: env_path("XDG_DOCUMENTS_DIR").unwrap_or_else(|| home.join("Documents")),
            ready_timeout: env_millis("WEFT_READY_TIMEOUT_MS", settings.ready_timeout_ms)?,
            stop_grace: env_millis("WEFT_STOP_GRACE_MS", settings.stop_grace_ms)?,
            ws_port: match std::env::var("WEFT_APPD_WS_PORT") {
                Ok(port) => port
                    .parse()
                    .with_context(|| format!("WEFT_APPD_WS_PORT={port:?} is not a port"))?,
                Err(_) => settings.ws_port.unwrap_or_default(),
            },
            ws_origins: origins
                .into_iter()
                .map(|origin| origin.trim().to_owned())
                .filter(|origin| !origin.is_empty())
                .collect(),
            app_shell_bin: env_path("WEFT_APP_SHELL_BIN").or(settings.app_shell),
            compositor_socket: env_path("WEFT_COMPOSITOR_SOCKET").or(settings.compositor_socket),
            image_mounts: match (
                env_path("WEFT_MOUNT_SOCKET").or(settings.mount_socket),
                env_path("WEFT_MOUNT_HELPER").or(settings.mount_helper),
            ) {
                (Some(socket), None) => Some(ImageMounts::Service(socket)),
                (None, Some(helper)) => Some(ImageMounts::Helper(helper)),
                (None, None) => None,
                (Some(socket), Some(helper)) => bail!(
                    "both a mount socket ({}) and a mount helper ({}) are set: choose one",
                    socket.display(),
                    helper.display()
                ),
            },
            images_dir: env_path("WEFT_IMAGES_DIR")
                .unwrap_or_else(|| PathBuf::from(weft_verify::image_list::SYSTEM_IMAGES_DIR)),
            cgroups: settings.cgroups.unwrap_or(true)
                && std::env::var_os("WEFT_DISABLE_CGROUP").is_none_or(|value| value == "0"),
            spare_runtime: settings.spare_runtime.unwrap_or(true)
                && std::env::var_os("WEFT_SPARE_RUNTIME").is_none_or(|value| value != "0"),
            restart: RestartPolicy {
                on_failure: match env_or("WEFT_RESTART", settings.restart.policy).as_str() {
                    "never" => false,
                    "on-failure" => true,
                    other => bail!(
                        "restart policy {other:?} (restart.policy or WEFT_RESTART): expected never or on-failure"
                    ),
                },
                max_restarts: match std::env::var("WEFT_RESTART_MAX") {
                    Ok(max) => max
                        .parse()
                        .with_context(|| format!("WEFT_RESTART_MAX={max:?} is not a count"))?,
                    Err(_) => settings.restart.max.unwrap_or_default(),
                },
                backoff: env_millis("WEFT_RESTART_BACKOFF_MS", settings.restart.backoff_ms)?,
            },
            session_limits: SessionLimits {
                memory_max: env_or("WEFT_SESSION_MEMORY_MAX", settings.session.memory_max),
                cpu_max: env_or("WEFT_SESSION_CPU_MAX", settings.session.cpu_max),
                pids_max: env_or("WEFT_SESSION_PIDS_MAX", settings.session.pids_max),
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
