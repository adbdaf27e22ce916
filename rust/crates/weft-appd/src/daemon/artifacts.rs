//! Precompiled artifacts, checked once: the first launch of a component
//! hashes its artifact against the SHA-256 recorded beside it; later launches
//! open it and find the same file (the store replaces an artifact by rename,
//! never in place), so it is not hashed again. The runtime gets it open.

use std::collections::HashMap;
use std::fs::File;
use std::path::Path;
use std::sync::Mutex;

use weft_protocol::artifact::{self, ArtifactError, FileIdentity};
use weft_protocol::runtime::artifact_file_name;

/// Which artifact files were found to match their records, by component.
#[derive(Debug, Default)]
pub(super) struct CheckedArtifacts {
    checked: Mutex<HashMap<String, FileIdentity>>,
}

impl CheckedArtifacts {
    /// The artifact of the component whose SHA-256 is `component`, in the
    /// store `aot_dir`, open and checked; `None` when there is none or it does
    /// not match its record (the runtime then compiles it again).
    pub(super) async fn open(&self, aot_dir: &Path, component: &str) -> Option<File> {
        let path = aot_dir.join(artifact_file_name(component));
        if let Ok(opened) = File::open(&path)
            && let Ok(metadata) = opened.metadata()
            && self.lock().get(component) == Some(&FileIdentity::of(&metadata))
        {
            return Some(opened);
        }
        let checked = tokio::task::spawn_blocking(move || artifact::open_checked(&path)).await;
        match checked {
            Ok(Ok((opened, identity))) => {
                self.lock().insert(component.to_owned(), identity);
                Some(opened)
            }
            Ok(Err(ArtifactError::Missing { .. })) => None,
            Ok(Err(rejected)) => {
                self.lock().remove(component);
                tracing::warn!("{rejected}: the runtime compiles the component again");
                None
            }
            Err(error) => {
                tracing::warn!("checking an artifact failed: {error}");
                None
            }
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, FileIdentity>> {
        self.checked.lock().expect("checked artifacts lock")
    }
}
