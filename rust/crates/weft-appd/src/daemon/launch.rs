//! Launching a session: the app id checked, the package found and verified
//! in the store or its signed image mounted, the version admitted, the
//! session recorded and its first run started.

use super::file_check::FileCheck;
use super::*;

impl Daemon {
    /// Lets the next launch of `app_id` be of any version (the operator's
    /// consent to a downgrade); says which version it forgets.
    pub fn allow_downgrade(&self, app_id: &str) -> Result<Option<semver::Version>, Failure> {
        let id = AppId::new(app_id).map_err(|error| {
            Failure::new(ErrorCode::InvalidAppId, format!("{app_id:?} is not an app id: {error}"))
        })?;
        let forgotten = self
            .versions
            .allow_downgrade(&id)
            .map_err(|error| Failure::new(ErrorCode::InvalidState, format!("{error:#}")))?;
        tracing::warn!(app = %id, ?forgotten, "the operator allowed a downgrade");
        Ok(forgotten)
    }

    /// Every app this daemon launches: its signed images when apps launch
    /// from images, else every app in every store root, verified.
    pub fn installed(&self) -> Result<Vec<InstalledApp>, Failure> {
        let trusted = self.trusted()?;
        Ok(match self.config.image_mounts {
            Some(_) => crate::installed::list_images(&self.config.images_dir, &trusted),
            None => crate::installed::list(&self.config.store_roots, &trusted),
        })
    }

    fn trusted(&self) -> Result<TrustedKeys, Failure> {
        TrustedKeys::load_with(&self.config.trusted_keys, &self.decoded_keys).map_err(|error| {
            Failure::new(ErrorCode::VerificationFailed, format!("{:#}", anyhow::Error::from(error)))
        })
    }

    /// Starts a session of `app_id`: validates the id, finds and verifies the
    /// package, starts `weft-runtime`, and returns the new session id. READY,
    /// the state changes and the end of the session come as events.
    pub async fn launch(self: &Arc<Self>, app_id: &str) -> Result<u64, Failure> {
        let id = AppId::new(app_id).map_err(|error| {
            Failure::new(ErrorCode::InvalidAppId, format!("{app_id:?} is not an app id: {error}"))
        })?;
        let (launch, file_check) = match &self.config.image_mounts {
            Some(mounts) => (self.launch_from_image(mounts, id).await?, None),
            None => {
                let (launch, file_check) = self.launch_from_store(id)?;
                (launch, Some(file_check))
            }
        };
        if let Err(refusal) = self.versions.admit(&launch.id, &launch.version) {
            tracing::warn!(app = %launch.id, "launch refused: {refusal}");
            self.release_image(&launch.id).await;
            let code = match refusal {
                Refusal::Downgrade { .. } => ErrorCode::Downgrade,
                Refusal::Write { .. } => ErrorCode::LaunchFailed,
            };
            return Err(Failure::new(code, refusal.to_string()));
        }

        let session = {
            let mut next = self.next_session.lock().expect("session counter lock");
            let session = *next;
            *next += 1;
            session
        };
        let (life, first) = Lifecycle::launch(self.config.restart.clone());
        self.sessions.lock().expect("sessions lock").insert(
            session,
            Session {
                app_id: launch.id.to_string(),
                life,
                cause: None,
                pid: None,
                helper_pids: Vec::new(),
                cgroup: None,
                started: Instant::now(),
                channel: None,
                logs: VecDeque::new(),
                ipc_to_ui: 0,
                ipc_to_app: 0,
                forward_rate: RateLimit::new(IPC_BURST, IPC_PER_SECOND),
                ui_attached: false,
                ui_backlog: VecDeque::new(),
            },
        );
        // The first effects: announce `starting`, start the first run.
        let first = self.announce(session, launch.id.as_str(), first);
        debug_assert_eq!(first, [Effect::StartRun]);
        let processes = match self.start_run(session, &launch, file_check).await {
            Ok(processes) => processes,
            Err(failure) => {
                self.release_image(&launch.id).await;
                return Err(failure);
            }
        };
        let daemon = Arc::clone(self);
        tokio::spawn(async move {
            daemon.supervise(session, &launch, processes).await;
            daemon.release_image(&launch.id).await;
        });
        Ok(session)
    }

    /// Finds `id` in the store and reads its installed package as a launch
    /// starts it: the signature, and the manifest against the signed one.
    /// Every other file is checked (the store is writable; the full content
    /// check passed at install) while the runtime starts: the [`FileCheck`]
    /// returned, which must pass before the runtime instantiates the app.
    fn launch_from_store(&self, id: AppId) -> Result<(Launch, FileCheck), Failure> {
        let package = weft_verify::store::find(&self.config.store_roots, id.as_str())
            .map_err(|error| Failure::new(ErrorCode::NotFound, error.to_string()))?;
        let trusted = self.trusted()?;
        // Bounded work (a signature file, one signature check unless the same
        // bytes were checked before, a manifest of at most 64 KiB), done here:
        // a blocking thread's wake-up costs as much.
        let statements = &self.statements;
        let signed = weft_verify::store::read_installed_for_launch(&package, &trusted, statements)
            .map_err(|error| {
                Failure::new(
                    ErrorCode::VerificationFailed,
                    format!("{:#}", anyhow::Error::from(error)),
                )
            })?;
        let digest_of = |path: &str| {
            signed.statement.files.iter().find(|entry| entry.path == path)?.sha256.clone()
        };
        let (manifest_digest, component) = digest_of(weft_manifest::MANIFEST_FILE)
            .zip(digest_of(&signed.manifest.module.to_string()))
            .ok_or_else(|| {
                Failure::new(
                    ErrorCode::VerificationFailed,
                    "the signed list lacks the manifest or the component",
                )
            })?;
        let digests = Digests::Verified { manifest: manifest_digest, component };
        let file_check = FileCheck::start(package.clone(), signed.statement)
            .map_err(|error| Failure::new(ErrorCode::LaunchFailed, error.to_string()))?;
        Ok((Launch::new(id, package, signed.manifest, digests), file_check))
    }

    /// Has the mount helper verify and mount `id`'s signed image (once for
    /// all its sessions) and inspects the read-only mount once per mount (it
    /// cannot change while mounted): its manifest, and the component's SHA-256
    /// that keys its artifact.
    async fn launch_from_image(
        &self,
        image_mounts: &ImageMounts,
        id: AppId,
    ) -> Result<Launch, Failure> {
        let package = self.mounts.acquire(image_mounts, &id).await?;
        let inspection = match self.mounts.inspection(&id).await {
            Some(inspection) => inspection,
            None => {
                let inspect_path = package.clone();
                let inspected =
                    tokio::task::spawn_blocking(move || weft_verify::inspect(&inspect_path)).await;
                let inspection = match inspected {
                    Ok(Ok(inspection)) => Ok(self.mounts.remember(&id, inspection).await),
                    Ok(Err(error)) => Err(Failure::new(
                        ErrorCode::VerificationFailed,
                        format!("{:#}", anyhow::Error::from(error)),
                    )),
                    Err(error) => Err(Failure::new(ErrorCode::LaunchFailed, error.to_string())),
                };
                match inspection {
                    Ok(inspection) => inspection,
                    Err(failure) => {
                        self.release_image(&id).await;
                        return Err(failure);
                    }
                }
            }
        };
        let key = Digests::ArtifactKey(inspection.component.sha256.clone());
        Ok(Launch::new(id, package, inspection.manifest.clone(), key))
    }

    /// A session of `id` no longer needs its image: the last one unmounts it.
    async fn release_image(&self, id: &AppId) {
        let Some(image_mounts) = &self.config.image_mounts else { return };
        self.mounts.release(image_mounts, id).await;
    }
}
