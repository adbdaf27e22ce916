//! Who mounts apps' signed images: the mount service (`weft-mount-helper
//! serve` behind a Unix socket, as a WEFT system runs it) or the helper run as
//! a command (when weft-appd itself runs as root, as in development). Either
//! verifies the image, maps it through dm-verity and mounts it read-only; a
//! mount answers the mount point. [`MountTable`] shares one mount among an
//! app's sessions.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::UnixStream;
use tokio::process::Command;
use weft_manifest::AppId;
use weft_verify::Inspection;

/// The longest answer read from the mount service.
const MAX_ANSWER: u64 = 64 << 10;

/// Where image mounts come from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ImageMounts {
    /// `weft-mount-helper serve` listening on this socket (settings
    /// `mount-socket`, `WEFT_MOUNT_SOCKET`).
    Service(PathBuf),
    /// This program run as `<helper> mount|unmount <app-id>` (settings
    /// `mount-helper`, `WEFT_MOUNT_HELPER`).
    Helper(PathBuf),
}

/// What to do with an app's image.
#[derive(Clone, Copy, Debug)]
pub enum MountAction {
    /// Verify, map and mount it.
    Mount,
    /// Unmount it and remove its mapping.
    Unmount,
}

impl MountAction {
    fn word(self) -> &'static str {
        match self {
            Self::Mount => "mount",
            Self::Unmount => "unmount",
        }
    }
}

/// Why a mount or unmount failed.
#[derive(Debug, thiserror::Error)]
pub enum MountError {
    /// The helper or the service could not be reached.
    #[error("{0}")]
    Unreachable(String),
    /// It refused or failed, saying why.
    #[error("{action} of {id}'s image failed: {message}")]
    Refused {
        /// `mount` or `unmount`.
        action: &'static str,
        /// The app.
        id: String,
        /// The helper's reason.
        message: String,
    },
}

impl ImageMounts {
    /// Gives back every mount the mount service holds for this user (a
    /// predecessor killed before it could unmount leaves them); returns the
    /// service's answer: the images it unmounted. The helper run as a
    /// command keeps no holds: nothing to give back.
    pub async fn release_all(&self) -> Result<String, MountError> {
        let Self::Service(socket) = self else { return Ok(String::new()) };
        match ask_service(socket, "release-all").await? {
            (true, unmounted) => Ok(unmounted),
            (false, message) => Err(MountError::Refused {
                action: "release-all",
                id: "every app".to_owned(),
                message,
            }),
        }
    }

    /// Carries out `action` on `id`'s image; a mount returns the mount point.
    pub async fn request(&self, action: MountAction, id: &AppId) -> Result<String, MountError> {
        let (success, answer) = match self {
            Self::Service(socket) => {
                ask_service(socket, &format!("{} {id}", action.word())).await?
            }
            Self::Helper(helper) => run_helper(helper, action, id).await?,
        };
        if success {
            Ok(answer)
        } else {
            Err(MountError::Refused { action: action.word(), id: id.to_string(), message: answer })
        }
    }
}

/// Sends the mount service one request line; whether it said `ok`, and the rest.
async fn ask_service(socket: &Path, request: &str) -> Result<(bool, String), MountError> {
    let unreachable = |error: std::io::Error| {
        MountError::Unreachable(format!("the mount service at {}: {error}", socket.display()))
    };
    let mut stream = UnixStream::connect(socket).await.map_err(unreachable)?;
    stream.write_all(format!("{request}\n").as_bytes()).await.map_err(unreachable)?;
    let mut answer = String::new();
    stream.take(MAX_ANSWER).read_to_string(&mut answer).await.map_err(unreachable)?;
    let line = answer.trim_end_matches('\n');
    match line.split_once(' ').unwrap_or((line, "")) {
        ("ok", value) => Ok((true, value.to_owned())),
        ("error", message) => Ok((false, message.to_owned())),
        _ => Err(MountError::Unreachable(format!(
            "the mount service at {} answered {line:?}, not `ok` or `error`",
            socket.display()
        ))),
    }
}

async fn run_helper(
    helper: &Path,
    action: MountAction,
    id: &AppId,
) -> Result<(bool, String), MountError> {
    let output = Command::new(helper)
        .arg(action.word())
        .arg(id.as_str())
        .stdin(Stdio::null())
        .output()
        .await
        .map_err(|error| {
            MountError::Unreachable(format!(
                "cannot run the mount helper {}: {error}",
                helper.display()
            ))
        })?;
    let text = if output.status.success() { &output.stdout } else { &output.stderr };
    Ok((output.status.success(), String::from_utf8_lossy(text).trim().to_owned()))
}

/// The images mounted for this daemon's sessions: per app, its mount point,
/// how many sessions use it and what inspecting it found. Each app has a lock
/// of its own, held across the mount service's answer, so one app's slow
/// mount never holds up another's launch.
#[derive(Default)]
pub struct MountTable {
    apps: std::sync::Mutex<HashMap<String, Slot>>,
}

/// One app's entry, while its image is mounted.
type Slot = Arc<tokio::sync::Mutex<Option<Mounted>>>;

/// An app's mounted image.
struct Mounted {
    path: PathBuf,
    /// Sessions using it.
    users: usize,
    /// The mount's inspection: a read-only dm-verity mount cannot change, so
    /// it is inspected once, by the first launch from it.
    inspection: Option<Arc<Inspection>>,
}

impl MountTable {
    /// The mount point of `id`'s image for one more session, mounted through
    /// `mounts` when no session of the app has it yet.
    pub async fn acquire(&self, mounts: &ImageMounts, id: &AppId) -> Result<PathBuf, MountError> {
        let slot = self.slot(id);
        let mut entry = slot.lock().await;
        if let Some(mounted) = entry.as_mut() {
            mounted.users += 1;
            return Ok(mounted.path.clone());
        }
        let path = PathBuf::from(mounts.request(MountAction::Mount, id).await?);
        *entry = Some(Mounted { path: path.clone(), users: 1, inspection: None });
        Ok(path)
    }

    /// What inspecting `id`'s mounted image found, once it was inspected.
    pub async fn inspection(&self, id: &AppId) -> Option<Arc<Inspection>> {
        self.slot(id).lock().await.as_ref()?.inspection.clone()
    }

    /// Keeps what inspecting `id`'s mounted image found, for the launches
    /// from the same mount.
    pub async fn remember(&self, id: &AppId, inspection: Inspection) -> Arc<Inspection> {
        let inspection = Arc::new(inspection);
        if let Some(mounted) = self.slot(id).lock().await.as_mut() {
            mounted.inspection = Some(Arc::clone(&inspection));
        }
        inspection
    }

    /// One session of `id` no longer needs its image: the last one unmounts it.
    pub async fn release(&self, mounts: &ImageMounts, id: &AppId) {
        let slot = self.slot(id);
        let mut entry = slot.lock().await;
        let Some(mounted) = entry.as_mut() else { return };
        mounted.users -= 1;
        if mounted.users > 0 {
            return;
        }
        *entry = None;
        if let Err(error) = mounts.request(MountAction::Unmount, id).await {
            tracing::warn!(app = %id, "{error}");
        }
    }

    fn slot(&self, id: &AppId) -> Slot {
        let mut apps = self.apps.lock().expect("mount table lock");
        Arc::clone(apps.entry(id.to_string()).or_default())
    }
}
