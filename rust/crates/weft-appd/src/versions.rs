//! Rollback protection at launch: the newest version of each app weft-appd
//! has launched, kept in `versions.toml` in its state directory. A launch of
//! an older version is refused until the operator allows the downgrade
//! (`ALLOW_DOWNGRADE`, `weftctl allow-downgrade`), so an older, still validly
//! signed package planted in a store (no install step, whose own check it
//! skips) cannot bring back a version with known holes.
//!
//! The state directory is systemd's `$STATE_DIRECTORY` (the NixOS unit's
//! `StateDirectory=`), else `$XDG_STATE_HOME/weft`, else `~/.local/state/weft`.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use anyhow::{Context, Result, bail};
use semver::Version;
use serde::{Deserialize, Serialize};
use weft_manifest::AppId;

/// The ledger's file name in the state directory.
const LEDGER_FILE: &str = "versions.toml";
/// Largest ledger read, in bytes (about 10,000 apps).
const MAX_LEDGER_BYTES: u64 = 1 << 20;

/// The file's content.
#[derive(Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
struct LedgerFile {
    /// App id → the newest version launched.
    #[serde(default)]
    apps: BTreeMap<String, Version>,
}

/// The newest version launched of each app, on disk and in memory.
pub struct VersionLedger {
    path: PathBuf,
    newest: Mutex<BTreeMap<String, Version>>,
}

/// Why a launch was refused.
#[derive(Debug, thiserror::Error)]
pub enum Refusal {
    /// The version is older than one launched before.
    #[error(
        "{id} {offered} is older than {newest}, which was launched before: a downgrade \
         needs the operator's consent (weftctl allow-downgrade {id})"
    )]
    Downgrade {
        /// The app.
        id: String,
        /// The version found.
        offered: Version,
        /// The newest launched.
        newest: Version,
    },
    /// The ledger could not be written.
    #[error("recording {id} {version} in {}: {source:#}", path.display())]
    Write {
        /// The app.
        id: String,
        /// Its version.
        version: Version,
        /// The ledger.
        path: PathBuf,
        /// Why.
        source: anyhow::Error,
    },
}

/// The state directory from the environment (see the module doc).
pub fn state_dir() -> Option<PathBuf> {
    let var = |name| std::env::var_os(name).filter(|value| !value.is_empty()).map(PathBuf::from);
    var("STATE_DIRECTORY")
        .or_else(|| var("XDG_STATE_HOME").map(|dir| dir.join("weft")))
        .or_else(|| var("HOME").map(|home| home.join(".local/state/weft")))
}

impl VersionLedger {
    /// Loads the ledger of `state_dir` (none yet: empty). A ledger that
    /// cannot be read or parsed is an error naming the file: starting without
    /// it would silently drop the protection.
    pub fn load(state_dir: &Path) -> Result<Self> {
        let path = state_dir.join(LEDGER_FILE);
        let newest = match std::fs::File::open(&path) {
            Ok(file) => {
                let mut text = String::new();
                file.take(MAX_LEDGER_BYTES + 1)
                    .read_to_string(&mut text)
                    .with_context(|| format!("reading {}", path.display()))?;
                if text.len() as u64 > MAX_LEDGER_BYTES {
                    bail!("{} is larger than {MAX_LEDGER_BYTES} bytes", path.display());
                }
                let file: LedgerFile = toml::from_str(&text).with_context(|| {
                    format!("{} is not a version ledger (remove it to start over)", path.display())
                })?;
                file.apps
            }
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => BTreeMap::new(),
            Err(error) => return Err(error).with_context(|| format!("opening {}", path.display())),
        };
        Ok(Self { path, newest: Mutex::new(newest) })
    }

    /// Admits a launch of `id` at `version`: refused when an older version
    /// than the newest launched; a newer one becomes the newest, on disk
    /// before the launch goes on.
    pub fn admit(&self, id: &AppId, version: &Version) -> Result<(), Refusal> {
        let mut newest = self.newest.lock().expect("version ledger lock");
        match newest.get(id.as_str()) {
            Some(known) if version < known => {
                return Err(Refusal::Downgrade {
                    id: id.to_string(),
                    offered: version.clone(),
                    newest: known.clone(),
                });
            }
            Some(known) if version == known => return Ok(()),
            _ => {}
        }
        let mut updated = newest.clone();
        updated.insert(id.to_string(), version.clone());
        self.write(&updated).map_err(|source| Refusal::Write {
            id: id.to_string(),
            version: version.clone(),
            path: self.path.clone(),
            source,
        })?;
        *newest = updated;
        Ok(())
    }

    /// Forgets `id`'s newest version: its next launch, of whatever version,
    /// is admitted and becomes the newest. Returns the version forgotten.
    pub fn allow_downgrade(&self, id: &AppId) -> Result<Option<Version>> {
        let mut newest = self.newest.lock().expect("version ledger lock");
        let mut updated = newest.clone();
        let forgotten = updated.remove(id.as_str());
        if forgotten.is_some() {
            self.write(&updated)?;
            *newest = updated;
        }
        Ok(forgotten)
    }

    fn write(&self, apps: &BTreeMap<String, Version>) -> Result<()> {
        if let Some(dir) = self.path.parent() {
            std::fs::create_dir_all(dir)
                .with_context(|| format!("creating the state directory {}", dir.display()))?;
        }
        let text = toml::to_string(&LedgerFile { apps: apps.clone() })?;
        let text = format!(
            "# The newest version of each app weft-appd launched; older ones are refused\n\
             # until `weftctl allow-downgrade <id>`. Written by weft-appd.\n{text}"
        );
        weft_verify::package::write_atomically(&self.path, text.as_bytes())
            .with_context(|| format!("writing {}", self.path.display()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn older_versions_are_refused_until_allowed_and_the_ledger_survives_a_restart() {
        let dir = tempfile::tempdir().unwrap();
        let id = AppId::new("org.weft.hello").unwrap();
        let v = |text| Version::parse(text).unwrap();
        let ledger = VersionLedger::load(dir.path()).unwrap();
        ledger.admit(&id, &v("0.2.0")).unwrap();
        ledger.admit(&id, &v("0.2.0")).unwrap();
        let refusal = ledger.admit(&id, &v("0.1.0")).unwrap_err().to_string();
        assert!(refusal.starts_with("org.weft.hello 0.1.0 is older than 0.2.0"), "{refusal}");

        let ledger = VersionLedger::load(dir.path()).unwrap();
        assert!(ledger.admit(&id, &v("0.2.0-rc.1")).is_err(), "a pre-release is older");
        assert_eq!(ledger.allow_downgrade(&id).unwrap(), Some(v("0.2.0")));
        ledger.admit(&id, &v("0.1.0")).unwrap();
        assert!(VersionLedger::load(dir.path()).unwrap().admit(&id, &v("0.0.9")).is_err());

        std::fs::write(dir.path().join(LEDGER_FILE), "[apps]\n\"x.y\" = \"not a version\"\n")
            .unwrap();
        let error = format!("{:#}", VersionLedger::load(dir.path()).err().unwrap());
        assert!(error.contains("is not a version ledger"), "{error}");
    }
}
