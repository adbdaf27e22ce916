//! A spare runtime: started before any launch, with its engine made, it waits
//! on its standard input for the one app it will run
//! ([`weft_protocol::runtime::Handover`]), then runs it as a cold start with
//! the same command line would. The sandbox is entered after the hand-over,
//! exactly where a cold start enters it. What it makes while it waits is a
//! [`Prepared`].

use std::io::IoSliceMut;
use std::mem::MaybeUninit;
use std::os::fd::{AsFd, BorrowedFd, IntoRawFd, OwnedFd};
use std::path::Path;

use anyhow::{Context, Result, bail, ensure};
use rustix::net::{
    RecvAncillaryBuffer, RecvAncillaryMessage, RecvFlags, ReturnFlags, Shutdown, recvmsg, shutdown,
};
use wasmtime::component::Linker;
use wasmtime_wasi::WasiCtxBuilder;
use weft_aot::{ArtifactStore, LoadError};
use weft_manifest::Manifest;
use weft_protocol::runtime::{HANDOVER_DESCRIPTOR_OPTIONS, Handover, MAX_HANDOVER_BYTES};

use crate::host::State;
use crate::{linking, sandbox};

/// Waits for the hand-over on standard input and returns the command line it
/// stands for, its descriptors' numbers in place. Standard input is shut and
/// replaced by /dev/null first, so no second app can ever be handed over.
pub fn receive_handover() -> Result<Vec<String>> {
    let stdin = std::io::stdin();
    let stdin = stdin.as_fd();
    let (bytes, descriptors) = receive(stdin)?;
    let _ = shutdown(stdin, Shutdown::Both);
    let null = std::fs::File::open("/dev/null").context("opening /dev/null")?;
    rustix::stdio::dup2_stdin(null.as_fd()).context("replacing standard input")?;

    let handover: Handover =
        serde_json::from_slice(&bytes).context("the hand-over is not a valid Handover message")?;
    ensure!(
        handover.descriptor_options.len() == descriptors.len(),
        "the hand-over names {} descriptor options but carries {} descriptors",
        handover.descriptor_options.len(),
        descriptors.len()
    );
    if let Some(option) =
        handover.args.iter().find(|arg| *arg == "--spare" || is_descriptor_option(arg))
    {
        bail!("the hand-over's command line may not carry {option}");
    }
    let mut args = handover.args;
    for (option, descriptor) in handover.descriptor_options.into_iter().zip(descriptors) {
        if !is_descriptor_option(&option) {
            bail!("the hand-over carries a descriptor for {option:?}, which takes none");
        }
        args.push(option);
        // The descriptor stays open for the session, as an inherited one would.
        args.push(descriptor.into_raw_fd().to_string());
    }
    Ok(args)
}

fn is_descriptor_option(arg: &str) -> bool {
    HANDOVER_DESCRIPTOR_OPTIONS.iter().any(|option| {
        arg == *option || arg.strip_prefix(option).is_some_and(|rest| rest.starts_with('='))
    })
}

/// One message and its descriptors; a message cut short is refused.
fn receive(socket: BorrowedFd<'_>) -> Result<(Vec<u8>, Vec<OwnedFd>)> {
    let mut bytes = vec![0; MAX_HANDOVER_BYTES];
    let mut space =
        [MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(HANDOVER_DESCRIPTOR_OPTIONS.len()))];
    let mut ancillary = RecvAncillaryBuffer::new(&mut space);
    let received = recvmsg(
        socket,
        &mut [IoSliceMut::new(&mut bytes)],
        &mut ancillary,
        RecvFlags::CMSG_CLOEXEC,
    )
    .context("waiting for the hand-over on standard input (a spare runs under its supervisor)")?;
    let descriptors: Vec<OwnedFd> = ancillary
        .drain()
        .filter_map(|message| match message {
            RecvAncillaryMessage::ScmRights(descriptors) => Some(descriptors),
            _ => None,
        })
        .flatten()
        .collect();
    ensure!(received.bytes > 0, "the supervisor closed the hand-over socket");
    ensure!(
        !received.flags.intersects(ReturnFlags::TRUNC | ReturnFlags::CTRUNC),
        "the hand-over is larger than {MAX_HANDOVER_BYTES} bytes or {} descriptors",
        HANDOVER_DESCRIPTOR_OPTIONS.len()
    );
    bytes.truncate(received.bytes);
    Ok((bytes, descriptors))
}

/// What a spare runtime makes while it waits, before it knows its app: the
/// engine, and the linker of every interface every app may import.
pub struct Prepared {
    pub(crate) engine: wasmtime::Engine,
    pub(crate) linker: Linker<State>,
}

impl Prepared {
    /// Makes the engine and the common linker, loads and drops the warm-up
    /// artifact of the store in `warm_up_from` (if any, and unless the
    /// hand-over is waiting on standard input already), then enters the
    /// system-call filter every app shares, widened by what setting one up
    /// needs ([`sandbox::enter_ahead`]: the process cannot run the installer
    /// then).
    pub fn ahead(warm_up_from: Option<&Path>) -> Result<Self> {
        let engine = weft_aot::engine()?;
        let linker = linking::common_linker(&engine).context("linking the common interfaces")?;
        make_first_uses();
        if let Some(aot_dir) = warm_up_from {
            // A launch that waits already would only wait longer.
            if handover_waiting() {
                tracing::debug!("no warm-up: a hand-over is waiting");
            } else {
                warm_up(&engine, aot_dir);
            }
        }
        sandbox::enter_ahead()?;
        Ok(Self { engine, linker })
    }
}

/// Makes, while a spare waits, the first uses that a launch would otherwise
/// pay for after its hand-over: detecting the CPU's features (`cpuid`, which
/// a virtual machine traps; std's detection serves wasmtime's parsing, SHA-256
/// has its own), seeding WASI's per-thread random generator, parsing a
/// manifest (the parser's code and tables paged in) and reading the thread's
/// CPU time (rustix looks for the vDSO in the auxiliary vector then, which the
/// filter entered ahead refuses reading: `PR_GET_AUXV`, `/proc/self/auxv`).
fn make_first_uses() {
    #[cfg(target_arch = "x86_64")]
    let _ = std::arch::is_x86_feature_detected!("avx2");
    let _ = weft_aot::component_digest(&[]);
    let _ = WasiCtxBuilder::new();
    let _ = Manifest::parse(FIRST_USE_MANIFEST);
    let _ = crate::limits::thread_cpu_time();
}

/// Whether a hand-over waits on standard input.
fn handover_waiting() -> bool {
    let stdin = std::io::stdin();
    let mut fds = [rustix::event::PollFd::new(&stdin, rustix::event::PollFlags::IN)];
    let no_wait = rustix::event::Timespec { tv_sec: 0, tv_nsec: 0 };
    rustix::event::poll(&mut fds, Some(&no_wait)).is_ok_and(|ready| ready > 0)
}

/// Loads and drops the warm-up artifact of the store in `aot_dir`
/// ([`ArtifactStore::warm_up`]): the app's own load after the hand-over is
/// then shorter (the runtime bench prints both). Without one (no app was
/// compiled yet) the spare only waits; one that is rejected is logged.
fn warm_up(engine: &wasmtime::Engine, aot_dir: &Path) {
    match ArtifactStore::new(aot_dir).warm_up(engine) {
        Ok(()) => tracing::debug!("loaded the warm-up artifact"),
        Err(missing @ LoadError::Missing { .. }) => tracing::debug!("no warm-up: {missing}"),
        Err(rejected @ LoadError::Rejected { .. }) => tracing::warn!("no warm-up: {rejected}"),
    }
}

/// What [`make_first_uses`] parses: a manifest as apps write them.
const FIRST_USE_MANIFEST: &str = r#"
[package]
id = "org.weft.first-use"
name = "First use"
version = "1.0.0"
capabilities = ["fs:rw:app-data", "net:fetch:https://example.org"]

[runtime]
module = "app.wasm"

[ui]
entry = "ui/index.html"
"#;

#[cfg(test)]
mod tests {
    use super::*;

    /// A spare pages the parser in with it: it must be a manifest, or the
    /// parse stops at its first error and leaves most of the parser unused.
    #[test]
    fn the_first_use_manifest_is_a_manifest() {
        Manifest::parse(FIRST_USE_MANIFEST).unwrap();
    }
}
