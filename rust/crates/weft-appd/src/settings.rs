//! The settings file that `weft-appd --config FILE` reads: TOML with the keys
//! below, every one optional. The NixOS module renders `weft.settings` into
//! this file, so this is the one schema both sides use
//! (`weft-appd --print-settings` prints it with its defaults; a test checks
//! the module's copy against it). Environment variables, where a key has one,
//! override the file (for development and tests).

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};

/// Largest settings file read, in bytes.
const MAX_SETTINGS_BYTES: u64 = 64 << 10;

/// The settings file's content. `None` means "the default".
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Settings {
    /// Directory of trusted public keys (`WEFT_TRUSTED_KEYS`).
    pub trusted_keys: Option<PathBuf>,
    /// Store of precompiled components (`WEFT_AOT_DIR`).
    pub aot_dir: Option<PathBuf>,
    /// Launch apps from signed images mounted by this helper, run as a
    /// command by appd running as root (`WEFT_MOUNT_HELPER`).
    pub mount_helper: Option<PathBuf>,
    /// Launch apps from signed images mounted by the mount service listening
    /// on this socket (`WEFT_MOUNT_SOCKET`).
    pub mount_socket: Option<PathBuf>,
    /// The per-app UI shell started after READY (`WEFT_APP_SHELL_BIN`).
    pub app_shell: Option<PathBuf>,
    /// The compositor's control socket (`WEFT_COMPOSITOR_SOCKET`).
    pub compositor_socket: Option<PathBuf>,
    /// How long an app has to report READY (`WEFT_READY_TIMEOUT_MS`).
    pub ready_timeout_ms: Option<u64>,
    /// Between SIGTERM and SIGKILL when stopping an app (`WEFT_STOP_GRACE_MS`).
    pub stop_grace_ms: Option<u64>,
    /// The system UI's WebSocket port on 127.0.0.1, 0 for any (`WEFT_APPD_WS_PORT`).
    pub ws_port: Option<u16>,
    /// Origins allowed to open the WebSocket (`WEFT_APPD_WS_ORIGINS`, comma-separated).
    pub ws_origins: Option<Vec<String>>,
    /// Run each session in its own cgroup when appd's cgroup is delegated
    /// (`WEFT_DISABLE_CGROUP` turns it off).
    pub cgroups: Option<bool>,
    /// Keep one runtime started ahead, its engine made, for the next launch
    /// (`WEFT_SPARE_RUNTIME=0` turns it off).
    pub spare_runtime: Option<bool>,
    /// What happens when an app fails.
    #[serde(default)]
    pub restart: RestartSettings,
    /// Each session's cgroup limits, in cgroup v2 syntax.
    #[serde(default)]
    pub session: SessionSettings,
}

/// `[restart]`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct RestartSettings {
    /// `never` or `on-failure` (`WEFT_RESTART`).
    pub policy: Option<String>,
    /// Restarts per session at most (`WEFT_RESTART_MAX`).
    pub max: Option<u32>,
    /// Wait before the first restart, doubled for each after it (`WEFT_RESTART_BACKOFF_MS`).
    pub backoff_ms: Option<u64>,
}

/// `[session]`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct SessionSettings {
    /// `memory.max`: bytes or `max` (`WEFT_SESSION_MEMORY_MAX`).
    pub memory_max: Option<String>,
    /// `cpu.max`: `<quota> <period>` in microseconds, or `max` (`WEFT_SESSION_CPU_MAX`).
    pub cpu_max: Option<String>,
    /// `pids.max`: tasks or `max` (`WEFT_SESSION_PIDS_MAX`).
    pub pids_max: Option<String>,
}

impl Settings {
    /// Every key at its default (paths without one stay unset).
    pub fn defaults() -> Self {
        let limits = crate::cgroup::SessionLimits::default();
        Self {
            trusted_keys: Some(PathBuf::from(weft_verify::keys::DEFAULT_TRUSTED_KEYS_DIR)),
            aot_dir: Some(PathBuf::from(weft_protocol::runtime::DEFAULT_AOT_DIR)),
            mount_helper: None,
            mount_socket: None,
            app_shell: None,
            compositor_socket: None,
            ready_timeout_ms: Some(30_000),
            stop_grace_ms: Some(3_000),
            ws_port: Some(7410),
            ws_origins: Some(vec!["weft://system".to_owned()]),
            cgroups: Some(true),
            spare_runtime: Some(true),
            restart: RestartSettings {
                policy: Some("never".to_owned()),
                max: Some(3),
                backoff_ms: Some(500),
            },
            session: SessionSettings {
                memory_max: Some(limits.memory_max),
                cpu_max: Some(limits.cpu_max),
                pids_max: Some(limits.pids_max),
            },
        }
    }

    /// Reads and parses `path`; an unknown key or a wrong type is an error
    /// naming it.
    pub fn read(path: &Path) -> Result<Self> {
        let file = std::fs::File::open(path)
            .with_context(|| format!("reading the settings file {}", path.display()))?;
        let mut text = String::new();
        std::io::Read::read_to_string(
            &mut std::io::Read::take(file, MAX_SETTINGS_BYTES + 1),
            &mut text,
        )
        .with_context(|| format!("reading the settings file {}", path.display()))?;
        if text.len() as u64 > MAX_SETTINGS_BYTES {
            anyhow::bail!("{} is larger than {MAX_SETTINGS_BYTES} bytes", path.display());
        }
        toml::from_str(&text).with_context(|| format!("{} is not valid settings", path.display()))
    }

    /// These settings, with every unset key taken from `base`.
    pub fn or(self, base: Self) -> Self {
        Self {
            trusted_keys: self.trusted_keys.or(base.trusted_keys),
            aot_dir: self.aot_dir.or(base.aot_dir),
            mount_helper: self.mount_helper.or(base.mount_helper),
            mount_socket: self.mount_socket.or(base.mount_socket),
            app_shell: self.app_shell.or(base.app_shell),
            compositor_socket: self.compositor_socket.or(base.compositor_socket),
            ready_timeout_ms: self.ready_timeout_ms.or(base.ready_timeout_ms),
            stop_grace_ms: self.stop_grace_ms.or(base.stop_grace_ms),
            ws_port: self.ws_port.or(base.ws_port),
            ws_origins: self.ws_origins.or(base.ws_origins),
            cgroups: self.cgroups.or(base.cgroups),
            spare_runtime: self.spare_runtime.or(base.spare_runtime),
            restart: RestartSettings {
                policy: self.restart.policy.or(base.restart.policy),
                max: self.restart.max.or(base.restart.max),
                backoff_ms: self.restart.backoff_ms.or(base.restart.backoff_ms),
            },
            session: SessionSettings {
                memory_max: self.session.memory_max.or(base.session.memory_max),
                cpu_max: self.session.cpu_max.or(base.session.cpu_max),
                pids_max: self.session.pids_max.or(base.session.pids_max),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_defaults_round_trip_through_toml() {
        let text = toml::to_string(&Settings::defaults()).unwrap();
        assert_eq!(toml::from_str::<Settings>(&text).unwrap(), Settings::defaults());
    }

    #[test]
    fn unknown_keys_and_wrong_types_are_named() {
        let unknown = toml::from_str::<Settings>("ready-timeout = 5").unwrap_err().to_string();
        assert!(unknown.contains("unknown field `ready-timeout`"), "{unknown}");
        let nested = toml::from_str::<Settings>("[restart]\nretries = 2").unwrap_err().to_string();
        assert!(nested.contains("unknown field `retries`"), "{nested}");
        let typed = toml::from_str::<Settings>("ws-port = 70000").unwrap_err().to_string();
        assert!(typed.contains("ws-port"), "{typed}");
    }

    #[test]
    fn file_values_win_over_defaults_and_unset_keys_fall_back() {
        let file: Settings = toml::from_str("ready-timeout-ms = 5\n[restart]\nmax = 9").unwrap();
        let merged = file.or(Settings::defaults());
        assert_eq!(merged.ready_timeout_ms, Some(5));
        assert_eq!(merged.restart.max, Some(9));
        assert_eq!(merged.restart.policy.as_deref(), Some("never"));
        assert_eq!(merged.stop_grace_ms, Some(3_000));
    }
}
