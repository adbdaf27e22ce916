//! One app session: load, check, link, limit, run.

use std::fs;
use std::io::Read;
use std::os::fd::FromRawFd;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use wasmtime::{Store, Trap, UpdateDeadline};
use wasmtime_wasi::cli::OutputFile;
use wasmtime_wasi::{FsPerms, I32Exit, WasiCtxBuilder};
use weft_aot::{ArtifactStore, LoadError};
use weft_manifest::{Access, Capability, CapabilityKind, Directory, MANIFEST_FILE, Manifest};

use crate::compile::{CompileError, compile_with_installer};
use crate::fetch::FetchGuard;
use crate::host::State;
use crate::limits::{CpuWatch, EPOCH_TICK, LimitExceeded, Limiter, Policy};
use crate::linking;
use crate::sandbox::{self, SandboxSpec};
use crate::session::Session;
use crate::spare::Prepared;
use crate::world::{self, WorldMismatch};
use weft_protocol::runtime::Exit;

/// What a session is started with.
#[derive(Debug)]
pub struct LaunchOptions {
    /// The package directory (a verified store entry or a read-only image mount).
    pub package: PathBuf,
    /// The supervisor's session socket, if any.
    pub session_socket: Option<PathBuf>,
    /// An inherited directory descriptor for `fs:*:app-data`.
    pub app_data_fd: Option<i32>,
    /// An inherited directory descriptor for `fs:*:xdg-documents`.
    pub documents_fd: Option<i32>,
    /// An inherited descriptor for the app's standard output (else the
    /// runtime's stderr).
    pub app_stdout_fd: Option<i32>,
    /// An inherited descriptor for the app's standard error (else the
    /// runtime's stderr).
    pub app_stderr_fd: Option<i32>,
    /// The system's store of precompiled components.
    pub aot_dir: PathBuf,
    /// The installer that compiles a component with no stored artifact
    /// (`weft-pack`; this process links no compiler); `None`: the one beside
    /// this executable, looked up only when needed.
    pub compiler: Option<PathBuf>,
    /// The limits policy.
    pub policy: Policy,
    /// A path to try to open once inside the sandbox, logging whether that was
    /// refused: an operator's check that the sandbox confines paths.
    pub sandbox_probe: Option<PathBuf>,
    /// The SHA-256 (hex) of the component of an image mount (which cannot
    /// change), as the supervisor computed it once for the mount: the key of
    /// its artifact, so the component is not read or hashed again unless it
    /// must be compiled.
    pub artifact_key: Option<String>,
    /// An inherited descriptor of the artifact of that key (or of the
    /// verified component), opened in the store and checked against its
    /// recorded SHA-256 by the supervisor.
    pub artifact_fd: Option<i32>,
    /// An inherited pipe on which the supervisor confirms
    /// ([`weft_protocol::runtime::PACKAGE_VERIFIED`]) that the package's files
    /// are the signed ones, which it checks while the runtime starts: the app
    /// is instantiated only after.
    pub verified_fd: Option<i32>,
    /// The SHA-256 (hex) of the manifest and of the component as the
    /// supervisor verified them: what is read must be those very bytes (a
    /// package in a writable store may change after it was verified).
    pub verified: Option<VerifiedDigests>,
}

/// The digests of what the supervisor verified.
#[derive(Debug, Clone)]
pub struct VerifiedDigests {
    /// `wapp.toml`'s SHA-256, hex.
    pub manifest: String,
    /// The component's SHA-256, hex.
    pub component: String,
}

/// Why a session did not start; each is a refusal, not a crash.
#[derive(Debug, thiserror::Error)]
pub enum Refusal {
    /// The component imports something the manifest does not grant.
    #[error("launch refused: {0}")]
    Imports(#[from] weft_manifest::ImportDenied),
    /// A granted directory was not passed, or is not a directory.
    #[error("launch refused: {0}")]
    Directory(String),
    /// A file is not what the supervisor verified.
    #[error("launch refused: {} changed after it was verified (sha256 {found}, verified {verified})", path.display())]
    Changed {
        /// The file.
        path: PathBuf,
        /// What was read.
        found: String,
        /// What was verified.
        verified: String,
    },
    /// The component was built for another world than the one WEFT hosts.
    #[error("launch refused: {0}")]
    World(#[from] WorldMismatch),
    /// The supervisor did not confirm that the package's files are the signed ones.
    #[error("launch refused: the supervisor did not confirm the package's files ({0})")]
    Unverified(String),
    /// The module is not a valid component (a package never ships machine code).
    #[error("launch refused: {} is not a valid WebAssembly component", path.display())]
    InvalidComponent {
        /// The module file.
        path: PathBuf,
        /// What the compiler said.
        #[source]
        source: anyhow::Error,
    },
}

/// Runs one app session to its end and says how it ended, with what was
/// `prepared` ahead (a spare runtime's), else made now.
pub fn run(options: &LaunchOptions, prepared: Option<Prepared>) -> Exit {
    match run_inner(options, prepared) {
        Ok(exit) => exit,
        Err(error) => {
            let exit = classify(&error);
            // A refusal says so itself, and weft-appd reads it from this line.
            let causes = without_repeats(&error);
            if exit == Exit::Refused {
                tracing::error!("{causes}");
            } else {
                tracing::error!("{exit}: {causes}");
            }
            exit
        }
    }
}

fn run_inner(options: &LaunchOptions, prepared: Option<Prepared>) -> Result<Exit> {
    // Each file is read once, and what was read is what runs.
    let manifest_path = options.package.join(MANIFEST_FILE);
    let manifest_bytes = read_bounded(&manifest_path, weft_manifest::MAX_MANIFEST_BYTES as u64)?;
    if let Some(verified) = &options.verified {
        check_digest(
            &manifest_path,
            &weft_aot::component_digest(&manifest_bytes),
            &verified.manifest,
        )?;
    }
    let manifest = std::str::from_utf8(&manifest_bytes)
        .map_err(anyhow::Error::from)
        .and_then(|text| Ok(Manifest::parse(text)?))
        .with_context(|| format!("{} is not a valid manifest", manifest_path.display()))?;
    let _span = tracing::info_span!("app", id = %manifest.id).entered();
    let module = options.package.join(manifest.module.as_path());
    let (engine, linker) = match prepared {
        Some(Prepared { engine, linker }) => (engine, Some(linker)),
        None => (weft_aot::engine()?, None),
    };
    let entered_ahead = linker.is_some();
    let started = Instant::now();
    let component = component(options, &engine, &module, entered_ahead)?;
    tracing::debug!(micros = started.elapsed().as_micros() as u64, "component ready");
    let imports: Vec<String> =
        component.component_type().imports(&engine).map(|(name, _)| name.to_owned()).collect();
    manifest.check_imports(imports.iter().map(String::as_str)).map_err(Refusal::from)?;
    // A cold start knows its component before it links: only what it imports.
    let mut linker = match linker {
        Some(linker) => linker,
        None => {
            linking::imported_linker(&engine, &imports).context("linking the common interfaces")?
        }
    };

    let (wasi, granted_dirs) = wasi_context(&manifest, options)?;
    let session_stream = match &options.session_socket {
        Some(path) => Some(
            UnixStream::connect(path)
                .with_context(|| format!("connecting to the session socket {}", path.display()))?,
        ),
        None => None,
    };
    let limiter = Limiter::new(&options.policy, manifest.limits.memory_bytes)?;
    let cpu = CpuWatch::new(Duration::from_millis(options.policy.cpu_budget_ms))
        .context("reading this thread's context switches for the CPU budget")?;
    let started = Instant::now();
    linking::link_grants(&mut linker, &manifest).context("linking the granted interfaces")?;
    let instance_pre = world::check_linked(&linker, &component)?;
    tracing::debug!(micros = started.elapsed().as_micros() as u64, "linked");
    let started = Instant::now();

    // Everything that needs a path is done: enter the sandbox, then start the
    // threads (they inherit it) and the guest.
    let report = sandbox::enter(
        SandboxSpec {
            dirs: granted_dirs,
            tcp_ports: manifest
                .grants(CapabilityKind::NetFetch)
                .then(|| manifest.fetch_origins().map(weft_manifest::Origin::port).collect()),
        },
        entered_ahead,
    )?;
    tracing::debug!(micros = started.elapsed().as_micros() as u64, "sandbox ready");
    tracing::info!(
        landlock = ?report.landlock,
        allowed_syscalls = report.allowed_syscalls,
        "sandbox entered (no_new_privs, Landlock, seccomp allowlist)"
    );
    if let Some(path) = &options.sandbox_probe {
        probe_sandbox(path);
    }

    let session = session_stream.map(Session::start).transpose()?;
    let fetch_guard = FetchGuard::new(manifest.fetch_origins().cloned().collect());
    let mut store = Store::new(&engine, State::new(wasi, fetch_guard, limiter, cpu, session));
    store.limiter(|state| &mut state.limiter);
    store.set_epoch_deadline(1);
    store.epoch_deadline_callback(|mut context| {
        context.data_mut().cpu.tick()?;
        Ok(UpdateDeadline::Continue(1))
    });
    start_epoch_ticker(&engine)?;

    // Nothing of the app has run yet: it runs once its files are confirmed.
    if let Some(fd) = options.verified_fd {
        await_verification(fd)?;
    }
    let started = Instant::now();
    let command = instance_pre
        .instantiate(&mut store)
        .map_err(anyhow::Error::from)
        .context("instantiating the app")?;
    tracing::debug!(micros = started.elapsed().as_micros() as u64, "instantiated");
    let status = match command.wasi_cli_run().call_run(&mut store) {
        Ok(Ok(())) => 0,
        // `run` returning its error is how WASI says "exit status 1".
        Ok(Err(())) => 1,
        Err(error) => match error.downcast_ref::<I32Exit>() {
            Some(I32Exit(status)) => *status,
            None => return Err(anyhow::Error::from(error).context("the app stopped")),
        },
    };
    if status == 0 {
        Ok(Exit::Finished)
    } else {
        tracing::warn!("{}{status}", weft_protocol::runtime::APP_EXIT_STATUS);
        Ok(Exit::AppFailed)
    }
}

/// The app's component, from its stored artifact, found by its SHA-256: the
/// key weft-appd gave (the component of an image mount, or the one it
/// verified in the store: the artifact compiled from those very bytes is what
/// runs, so the component is read only if it must be compiled), else that of
/// the bytes read here. Without a usable artifact the installer compiles the
/// component first, once its bytes are checked against that key.
fn component(
    options: &LaunchOptions,
    engine: &wasmtime::Engine,
    module: &Path,
    entered_ahead: bool,
) -> Result<wasmtime::component::Component> {
    let store = ArtifactStore::new(&options.aot_dir);
    let key = options
        .artifact_key
        .as_ref()
        .or(options.verified.as_ref().map(|verified| &verified.component));
    if let Some(key) = key {
        if let Some(fd) = options.artifact_fd {
            match handed_over(&store, engine, key, fd) {
                Ok(component) => return Ok(component),
                Err(error) => tracing::warn!("loading from the store instead: {error:#}"),
            }
        }
        if let Some(component) = stored(&store, engine, key) {
            return Ok(component);
        }
    }
    let bytes = read_bounded(module, weft_aot::MAX_COMPONENT_BYTES)?;
    // Hashed once: checked against the key the supervisor gave, else the key
    // of its artifact.
    let digest = weft_aot::component_digest(&bytes);
    match key {
        Some(key) => check_digest(module, &digest, key)?,
        None => {
            if let Some(component) = stored(&store, engine, &digest) {
                return Ok(component);
            }
        }
    }
    if entered_ahead {
        // A rejected artifact goes, so that the next launch compiles it.
        let _ = fs::remove_file(store.artifact_path(&digest));
        bail!(
            "no usable precompiled artifact for {}: this runtime was started ahead, under its \
             system-call filter, and cannot run the installer; weft-appd starts launches \
             without an artifact cold, so the next launch compiles it",
            module.display()
        );
    }
    let compiler =
        options.compiler.clone().unwrap_or_else(crate::compile::installer_beside_this_executable);
    compile_with_installer(&compiler, &options.aot_dir, &bytes).map_err(|error| match error {
        CompileError::Invalid(said) => anyhow::Error::from(Refusal::InvalidComponent {
            path: module.to_owned(),
            source: anyhow::anyhow!(said),
        }),
        CompileError::Installer(error) => error,
    })?;
    let component =
        store.load(engine, &digest).context("loading the component the installer compiled")?;
    tracing::info!(
        "compiled the component (no stored artifact) with {}; stored it",
        compiler.display()
    );
    Ok(component)
}

/// The component stored under `key`, if its artifact is there and usable (a
/// rejected one is logged, and compiled again).
fn stored(
    store: &ArtifactStore,
    engine: &wasmtime::Engine,
    key: &str,
) -> Option<wasmtime::component::Component> {
    match store.load(engine, key) {
        Ok(component) => {
            tracing::debug!("loaded the precompiled component");
            Some(component)
        }
        Err(LoadError::Missing { .. }) => None,
        Err(rejected @ LoadError::Rejected { .. }) => {
            tracing::warn!("recompiling: {rejected}");
            None
        }
    }
}

/// The component from the artifact the supervisor handed over checked, as
/// the inherited descriptor `fd` (opened through its /proc link, the
/// descriptor itself).
fn handed_over(
    store: &ArtifactStore,
    engine: &wasmtime::Engine,
    key: &str,
    fd: i32,
) -> Result<wasmtime::component::Component> {
    let artifact = fs::File::open(format!("/proc/self/fd/{fd}"))
        .with_context(|| format!("--artifact-fd {fd} is not an open descriptor"))?;
    let component = store.load_checked(engine, key, &artifact)?;
    tracing::debug!("loaded the precompiled component the supervisor checked");
    Ok(component)
}

/// Tries to open `path` by name and logs whether the sandbox refused it.
fn probe_sandbox(path: &Path) {
    match fs::File::open(path) {
        Ok(_) => tracing::warn!(
            "sandbox probe: opened {} by name; paths are NOT confined",
            path.display()
        ),
        Err(error) => {
            tracing::info!("sandbox probe: opening {} was refused: {error}", path.display());
        }
    }
}

/// Reads a file of the package, refusing one larger than `limit` bytes.
fn read_bounded(path: &Path, limit: u64) -> Result<Vec<u8>> {
    let file = fs::File::open(path).with_context(|| format!("opening {}", path.display()))?;
    // Sized up front: one read where growing from empty took a dozen.
    let size = file.metadata().map_or(0, |metadata| metadata.len().min(limit + 1));
    let mut bytes = Vec::with_capacity(usize::try_from(size).unwrap_or(0) + 1);
    file.take(limit + 1).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > limit {
        bail!("{} is larger than {limit} bytes", path.display());
    }
    Ok(bytes)
}

/// Refuses a file whose SHA-256 (`found`, hex) is not the verified one.
fn check_digest(path: &Path, found: &str, verified: &str) -> Result<(), Refusal> {
    if found.eq_ignore_ascii_case(verified) {
        Ok(())
    } else {
        Err(Refusal::Changed {
            path: path.to_owned(),
            found: found.to_owned(),
            verified: verified.to_owned(),
        })
    }
}

/// The app's WASI context: no environment, only the app id as its one argument,
/// its stdout and stderr to the descriptors given for them (else the runtime's
/// stderr: stdout carries `READY`), no network use of any kind, and a
/// preopened directory for each granted `fs:` capability. The data directory
/// is also preopened as `/`, the app's root and working directory: relative
/// paths, and absolute ones outside `/data` and `/xdg/documents`, name files
/// in it (wasi-libc resolves them against the longest matching preopen).
/// Returns the context and the granted directories, opened, for the sandbox.
fn wasi_context(
    manifest: &Manifest,
    options: &LaunchOptions,
) -> Result<(wasmtime_wasi::WasiCtx, Vec<(fs::File, Access)>)> {
    let mut granted = Vec::new();
    let mut builder = WasiCtxBuilder::new();
    builder.arg(manifest.id.as_str());
    match options.app_stdout_fd {
        Some(fd) => builder.stdout(OutputFile::new(inherited_output(fd, "--app-stdout-fd")?)),
        None => builder.stdout(wasmtime_wasi::cli::stderr()),
    };
    match options.app_stderr_fd {
        Some(fd) => builder.stderr(OutputFile::new(inherited_output(fd, "--app-stderr-fd")?)),
        None => builder.stderr(wasmtime_wasi::cli::stderr()),
    };
    builder
        .allow_tcp(false)
        .allow_udp(false)
        .allow_ip_name_lookup(false)
        .socket_addr_check(|_, _| Box::pin(async { false }))
        // The app runs synchronously on this thread, which a blocking call
        // blocks anyway: files are read and written here, not handed to a
        // pool thread and back (two thread wake-ups per call, on an idle
        // core of a virtual machine up to milliseconds each).
        .allow_blocking_current_thread(true);
    for capability in &manifest.capabilities {
        let Capability::Filesystem { dir, access } = capability else { continue };
        let (fd, guest, flag) = match dir {
            Directory::AppData => (options.app_data_fd, "/data", "--app-data-fd"),
            Directory::XdgDocuments => (options.documents_fd, "/xdg/documents", "--documents-fd"),
        };
        let fd = fd.ok_or_else(|| {
            Refusal::Directory(format!("the app is granted {capability} but no {flag} was given"))
        })?;
        // The directory arrives as an inherited descriptor; its /proc link is
        // the descriptor itself, not a path anyone could swap.
        let host = PathBuf::from(format!("/proc/self/fd/{fd}"));
        if !fs::metadata(&host).is_ok_and(|metadata| metadata.is_dir()) {
            return Err(Refusal::Directory(format!("{flag} {fd} is not an open directory")).into());
        }
        let perms = match access {
            Access::Read => FsPerms::ReadOnly,
            Access::ReadWrite => FsPerms::ReadWrite,
        };
        builder.preopened_dir(&host, guest, perms)?;
        if *dir == Directory::AppData {
            builder.preopened_dir(&host, "/", perms)?;
        }
        granted.push((fs::File::open(&host)?, *access));
    }
    Ok((builder.build(), granted))
}

/// Waits on the inherited pipe `fd` for the supervisor's word that the
/// package's files are the signed ones; anything else refuses the launch.
fn await_verification(fd: i32) -> Result<()> {
    #[expect(unsafe_code, reason = "taking ownership of an inherited descriptor")]
    // SAFETY: `--verified-fd` names a descriptor the supervisor passed to
    // this process for this one use; nothing else in the process owns or
    // closes it, and it is taken here once.
    let mut pipe = fs::File::from(unsafe { std::os::fd::OwnedFd::from_raw_fd(fd) });
    let mut word = [0u8; 1];
    let read = loop {
        match pipe.read(&mut word) {
            Err(error) if error.kind() == std::io::ErrorKind::Interrupted => continue,
            read => break read,
        }
    };
    match read {
        Ok(1) if word[0] == weft_protocol::runtime::PACKAGE_VERIFIED => Ok(()),
        Ok(0) => Err(Refusal::Unverified("the supervisor closed --verified-fd".into()).into()),
        Ok(_) => {
            Err(Refusal::Unverified(format!("--verified-fd said {:?}", word[0] as char)).into())
        }
        Err(error) => {
            Err(Refusal::Unverified(format!("reading --verified-fd {fd}: {error}")).into())
        }
    }
}

/// Opens the inherited descriptor `fd` (given as `flag`) for writing the
/// app's output, through its /proc link (the descriptor itself, not a path).
fn inherited_output(fd: i32, flag: &str) -> Result<fs::File> {
    fs::OpenOptions::new()
        .append(true)
        .open(format!("/proc/self/fd/{fd}"))
        .with_context(|| format!("{flag} {fd} is not an open descriptor for writing"))
}

/// Advances the engine's epoch every [`EPOCH_TICK`] for the life of the process.
fn start_epoch_ticker(engine: &wasmtime::Engine) -> Result<()> {
    let engine = engine.weak();
    std::thread::Builder::new().name("epoch-ticker".into()).spawn(move || {
        while let Some(engine) = engine.upgrade() {
            engine.increment_epoch();
            drop(engine);
            std::thread::sleep(EPOCH_TICK);
        }
    })?;
    Ok(())
}

/// Maps an error that ended the session to its exit status.
/// `error` and its causes, each left out when an earlier one already says it
/// (a refusal's message includes what it wraps).
fn without_repeats(error: &anyhow::Error) -> String {
    let mut text = String::new();
    for cause in error.chain().map(ToString::to_string) {
        if !text.contains(&cause) {
            if !text.is_empty() {
                text.push_str(": ");
            }
            text.push_str(&cause);
        }
    }
    text
}

fn classify(error: &anyhow::Error) -> Exit {
    for cause in error.chain() {
        if let Some(limit) = cause.downcast_ref::<LimitExceeded>() {
            return match limit {
                LimitExceeded::Memory { .. } | LimitExceeded::Table { .. } => Exit::MemoryLimit,
                LimitExceeded::Cpu { .. } => Exit::CpuBudget,
            };
        }
        if cause.downcast_ref::<Refusal>().is_some()
            || cause.downcast_ref::<weft_manifest::ImportDenied>().is_some()
        {
            return Exit::Refused;
        }
        if let Some(trap) = cause.downcast_ref::<Trap>() {
            return if *trap == Trap::StackOverflow { Exit::StackOverflow } else { Exit::Trapped };
        }
    }
    Exit::RuntimeError
}
