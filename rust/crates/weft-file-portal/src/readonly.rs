//! Read-only roots live on a locked read-only mount, so every descriptor
//! resolved beneath them refuses creation, writes, renames, links, `chmod`,
//! `chown` and timestamps with `EROFS`, whoever holds it: the kernel enforces
//! it, not the portal's bookkeeping.
//!
//! A short-lived helper (this binary run again with [`HELPER_FLAG`]) does the
//! mount work, so the portal itself keeps its credentials and namespaces and
//! its writable roots behave exactly as before. The helper
//!
//! 1. enters a private mount namespace: a plain one when it holds
//!    `CAP_SYS_ADMIN`, else inside an unprivileged user namespace mapping its
//!    own uid and gid 1:1;
//! 2. clones each read-only directory's mount tree (`open_tree`), marks the
//!    clone read-only recursively (`mount_setattr(MOUNT_ATTR_RDONLY)`) and
//!    attaches it beneath a private tmpfs;
//! 3. enters a further user namespace: copying the mount table into a less
//!    privileged namespace locks the read-only flag (`MNT_LOCK_READONLY`), so
//!    no one, however privileged, can clear it on these mounts;
//! 4. opens each clone (`O_PATH`) and hands the descriptors back over
//!    `SCM_RIGHTS`.
//!
//! An unprivileged receiver cannot clear the flag either way: the mounts
//! belong to the helper's namespace, not to any namespace of the receiver's
//! (a plain, unlocked detached clone could be made writable again from a user
//! namespace of the receiver's own). No user namespaces: no read-only roots;
//! the portal fails to start rather than hand out writable descriptors.

use std::io::{IoSlice, IoSliceMut, Read};
use std::mem::MaybeUninit;
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{Context, Result, bail};
use rustix::fs::{CWD, Mode, OFlags, mkdirat, openat};
use rustix::mount::{
    FsMountFlags, FsOpenFlags, MountAttrFlags, MountPropagationFlags, MoveMountFlags,
    OpenTreeFlags, fsconfig_create, fsmount, fsopen, mount_change, move_mount, open_tree,
};
use rustix::net::{
    AddressFamily, RecvAncillaryBuffer, RecvAncillaryMessage, RecvFlags, SendAncillaryBuffer,
    SendAncillaryMessage, SendFlags, SocketFlags, SocketType, recvmsg, sendmsg, socketpair,
};
use rustix::thread::UnshareFlags;

/// The first argument that runs the binary as the sealing helper, followed by
/// `NAME=DIR` arguments, one per read-only root.
pub const HELPER_FLAG: &str = "--seal-read-only";

/// Seals the read-only roots `(name, dir)`: returns, in order, one `O_PATH`
/// descriptor per directory on a locked read-only mount, made by the helper.
pub fn seal(roots: &[(String, PathBuf)]) -> Result<Vec<OwnedFd>> {
    let (ours, theirs) =
        socketpair(AddressFamily::UNIX, SocketType::STREAM, SocketFlags::CLOEXEC, None)?;
    let mut child = Command::new("/proc/self/exe")
        .arg(HELPER_FLAG)
        .args(roots.iter().map(|(name, dir)| format!("{name}={}", dir.display())))
        .stdin(Stdio::null())
        .stdout(Stdio::from(theirs))
        .stderr(Stdio::piped())
        .spawn()
        .context("starting the read-only sealing helper")?;
    let mut mechanism = [0u8; 256];
    let mut space = vec![MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(roots.len()))];
    let mut control = RecvAncillaryBuffer::new(&mut space);
    let received = recvmsg(
        &ours,
        &mut [IoSliceMut::new(&mut mechanism)],
        &mut control,
        RecvFlags::CMSG_CLOEXEC,
    );
    let dirs: Vec<OwnedFd> = control
        .drain()
        .filter_map(|message| match message {
            RecvAncillaryMessage::ScmRights(fds) => Some(fds),
            _ => None,
        })
        .flatten()
        .collect();
    let mut stderr = String::new();
    if let Some(mut pipe) = child.stderr.take() {
        // Only for the message: a helper that said nothing still fails below.
        let _ = pipe.read_to_string(&mut stderr);
    }
    let status = child.wait()?;
    if !status.success() {
        let why = match stderr.trim() {
            "" => "the read-only sealing helper failed",
            said => said,
        };
        bail!("{why} ({status})");
    }
    let received = received.context("receiving the sealed read-only roots")?;
    if dirs.len() != roots.len() {
        bail!("the sealing helper sent {} descriptors for {} roots", dirs.len(), roots.len());
    }
    tracing::info!(
        roots = ?roots.iter().map(|(name, _)| name).collect::<Vec<_>>(),
        "read-only roots on locked read-only mounts, made in {}",
        String::from_utf8_lossy(&mechanism[..received.bytes])
    );
    Ok(dirs)
}

/// The helper's side of [`seal`]: `args` are the `NAME=DIR` arguments; the
/// descriptors go to standard output, which is a socket.
pub fn helper(args: &[String]) -> Result<()> {
    let roots = args
        .iter()
        .map(|arg| arg.split_once('=').map(|(name, dir)| (name, Path::new(dir))))
        .collect::<Option<Vec<_>>>()
        .context("helper arguments are NAME=DIR")?;
    let Some((_, first)) = roots.first() else { bail!("no read-only roots to seal") };
    let names = roots.iter().map(|(name, _)| *name).collect::<Vec<_>>().join(", ");
    let needs_user_namespace = |error: std::io::Error| {
        anyhow::anyhow!("read-only root {names} needs an unprivileged user namespace: {error}")
    };
    let mechanism = if unshare(UnshareFlags::NEWNS).is_ok() {
        "a private mount namespace, then a user namespace"
    } else {
        enter_user_namespace().map_err(needs_user_namespace)?;
        "an unprivileged user namespace, then a nested one"
    };
    mount_change("/", MountPropagationFlags::PRIVATE | MountPropagationFlags::REC)
        .context("making the helper's mounts private")?;
    let tmpfs = fsopen("tmpfs", FsOpenFlags::FSOPEN_CLOEXEC)?;
    fsconfig_create(&tmpfs)?;
    let staging = fsmount(&tmpfs, FsMountFlags::FSMOUNT_CLOEXEC, MountAttrFlags::empty())
        .context("mounting the staging tmpfs")?;
    for (index, (name, dir)) in roots.iter().enumerate() {
        let tree = open_tree(
            CWD,
            *dir,
            OpenTreeFlags::OPEN_TREE_CLONE
                | OpenTreeFlags::OPEN_TREE_CLOEXEC
                | OpenTreeFlags::AT_RECURSIVE,
        )
        .with_context(|| format!("cloning the mount of the {name} root {}", dir.display()))?;
        set_read_only_recursively(&tree)
            .with_context(|| format!("making the {name} root read-only"))?;
        mkdirat(&staging, index.to_string(), Mode::RWXU)?;
        move_mount(
            &tree,
            "",
            &staging,
            index.to_string(),
            MoveMountFlags::MOVE_MOUNT_F_EMPTY_PATH,
        )?;
    }
    // Attached (in this private namespace only) so that entering the next user
    // namespace copies, and so locks, the read-only mounts beneath it.
    move_mount(&staging, "", CWD, *first, MoveMountFlags::MOVE_MOUNT_F_EMPTY_PATH)
        .context("attaching the staging tmpfs")?;
    rustix::process::fchdir(&staging)?;
    enter_user_namespace().map_err(needs_user_namespace)?;
    let dirs = (0..roots.len())
        .map(|index| {
            openat(
                CWD,
                index.to_string(),
                OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
                Mode::empty(),
            )
        })
        .collect::<Result<Vec<_>, _>>()?;
    let stdout = std::io::stdout();
    let fds = dirs.iter().map(std::os::fd::AsFd::as_fd).collect::<Vec<_>>();
    let mut space = vec![MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(fds.len()))];
    let mut control = SendAncillaryBuffer::new(&mut space);
    control.push(SendAncillaryMessage::ScmRights(&fds));
    sendmsg(stdout, &[IoSlice::new(mechanism.as_bytes())], &mut control, SendFlags::empty())
        .context("sending the sealed roots")?;
    Ok(())
}

/// Enters a new user and mount namespace, keeping the own uid and gid (1:1).
fn enter_user_namespace() -> std::io::Result<()> {
    let (uid, gid) = (rustix::process::getuid(), rustix::process::getgid());
    unshare(UnshareFlags::NEWUSER | UnshareFlags::NEWNS)?;
    std::fs::write("/proc/self/setgroups", "deny")?;
    std::fs::write("/proc/self/uid_map", format!("{0} {0} 1", uid.as_raw()))?;
    std::fs::write("/proc/self/gid_map", format!("{0} {0} 1", gid.as_raw()))
}

fn unshare(flags: UnshareFlags) -> std::io::Result<()> {
    #[expect(unsafe_code, reason = "rustix marks unshare unsafe because of CLONE_FILES")]
    // SAFETY: the flags never include `UnshareFlags::FILES`, the one that can
    // leave threads with different descriptor tables; the helper is
    // single-threaded anyway.
    unsafe {
        rustix::thread::unshare_unsafe(flags)?;
    }
    Ok(())
}

/// `mount_setattr(tree, "", AT_EMPTY_PATH | AT_RECURSIVE, {MOUNT_ATTR_RDONLY})`,
/// which rustix does not wrap.
fn set_read_only_recursively(tree: &OwnedFd) -> std::io::Result<()> {
    let attr = libc::mount_attr {
        attr_set: libc::MOUNT_ATTR_RDONLY,
        attr_clr: 0,
        propagation: 0,
        userns_fd: 0,
    };
    #[expect(unsafe_code, reason = "mount_setattr has no safe wrapper in rustix or libc")]
    // SAFETY: the path is a NUL-terminated empty string, `attr` is a live,
    // initialised `mount_attr` whose exact size is passed, and the kernel only
    // reads both during the call; `tree` is an open descriptor.
    let result = unsafe {
        libc::syscall(
            libc::SYS_mount_setattr,
            tree.as_raw_fd(),
            c"".as_ptr(),
            libc::AT_EMPTY_PATH | libc::AT_RECURSIVE,
            &raw const attr,
            size_of::<libc::mount_attr>(),
        )
    };
    if result == -1 { Err(std::io::Error::last_os_error()) } else { Ok(()) }
}
