//! The warm launcher: one runtime started ahead (`weft-runtime --spare`), its
//! engine and common linker made and the artifact store's warm-up artifact
//! loaded and dropped, waiting for the next launch. A launch hands
//! it the app (its command line and descriptors, over a `SOCK_SEQPACKET` pair)
//! after moving it into the session's cgroup; a new spare is started once that
//! app is READY (or its run ended), so the two never compete for the cores
//! while the app starts. The runtime
//! reads one hand-over and shuts the socket: no two apps ever share a process.

use std::io::IoSlice;
use std::os::fd::{BorrowedFd, OwnedFd};

use rustix::net::{
    AddressFamily, SendAncillaryBuffer, SendAncillaryMessage, SendFlags, SocketFlags, SocketType,
    sendmsg, socketpair,
};
use weft_protocol::runtime::{HANDOVER_DESCRIPTOR_OPTIONS, Handover};

use super::spawn::runtime_command;
use super::*;

/// A started spare runtime and the daemon's end of its hand-over socket.
#[derive(Debug)]
pub(super) struct Spare {
    child: tokio::process::Child,
    handover: OwnedFd,
}

impl Daemon {
    /// Starts a spare runtime unless there is one (or spares are off), as a
    /// task of its own: what is already queued (the APP_READY that called for
    /// this spare) goes out before the start, which waits for the runtime's
    /// exec. It runs on the daemon's thread, whose end `PR_SET_PDEATHSIG`
    /// ties the spare's life to. A launch that comes meanwhile waits for this
    /// spare rather than starting cold. A failure is logged: launches then
    /// start their runtime cold.
    pub fn refill_spare(self: &Arc<Self>) {
        if !self.config.spare_runtime {
            return;
        }
        let daemon = Arc::clone(self);
        tokio::spawn(async move {
            // Every task already woken runs first: the event that called for
            // this spare passes two of them on its way to each client.
            tokio::task::yield_now().await;
            let mut slot = daemon.spare.lock().await;
            // A spare that died while it waited is replaced.
            if slot.as_mut().is_some_and(|waiting| matches!(waiting.child.try_wait(), Ok(None))) {
                return;
            }
            match daemon.start_spare() {
                Ok(started) => *slot = Some(started),
                Err(error) => tracing::warn!(
                    "cannot start a spare runtime ({}): launches start cold: {error}",
                    daemon.config.runtime_bin.display()
                ),
            }
        });
    }

    fn start_spare(&self) -> std::io::Result<Spare> {
        let (handover, theirs) =
            socketpair(AddressFamily::UNIX, SocketType::SEQPACKET, SocketFlags::CLOEXEC, None)?;
        let mut command = runtime_command(&self.config.runtime_bin);
        command
            .arg("--spare")
            .arg(&self.config.aot_dir)
            .stdin(Stdio::from(theirs))
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let _spawning = self.spawning.lock().expect("spawn lock");
        Ok(Spare { child: command.spawn()?, handover })
    }

    /// The spare, if one is waiting (or being started) and alive; a new one is
    /// started after each take.
    pub(super) async fn take_spare(&self) -> Option<Spare> {
        let mut spare = self.spare.lock().await.take()?;
        match spare.child.try_wait() {
            Ok(None) => Some(spare),
            Ok(Some(status)) => {
                tracing::warn!("the spare runtime had exited ({status}): starting the app cold");
                None
            }
            Err(error) => {
                tracing::warn!("the spare runtime cannot be checked ({error}): starting cold");
                None
            }
        }
    }
}

impl Spare {
    /// Hands this spare its app: moves it into `cgroup` first (so the app
    /// never runs outside it), then sends `args` and the descriptors, each
    /// named by its option. On an error the spare is dropped (killed).
    pub(super) fn hand_over(
        self,
        args: &[std::ffi::OsString],
        descriptors: &[(&'static str, BorrowedFd<'_>)],
        cgroup: Option<&SessionCgroup>,
    ) -> std::io::Result<tokio::process::Child> {
        let pid = self.child.id().ok_or_else(|| std::io::Error::other("the spare has exited"))?;
        if let Some(cgroup) = cgroup {
            cgroup.adopt(pid)?;
        }
        let handover = Handover {
            args: args.iter().map(|arg| arg.to_string_lossy().into_owned()).collect(),
            descriptor_options: descriptors
                .iter()
                .map(|(option, _)| (*option).to_owned())
                .collect(),
        };
        debug_assert!(
            handover
                .descriptor_options
                .iter()
                .all(|o| HANDOVER_DESCRIPTOR_OPTIONS.contains(&o.as_str()))
        );
        let json = serde_json::to_vec(&handover).map_err(std::io::Error::other)?;
        let fds: Vec<BorrowedFd<'_>> = descriptors.iter().map(|(_, fd)| *fd).collect();
        let mut space =
            vec![std::mem::MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(fds.len()))];
        let mut ancillary = SendAncillaryBuffer::new(&mut space);
        if !fds.is_empty() && !ancillary.push(SendAncillaryMessage::ScmRights(&fds)) {
            return Err(std::io::Error::other("the hand-over's descriptors do not fit"));
        }
        sendmsg(&self.handover, &[IoSlice::new(&json)], &mut ancillary, SendFlags::NOSIGNAL)?;
        Ok(self.child)
    }
}
