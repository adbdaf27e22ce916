//! The `weft-runtime` command: runs one app session.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::Parser;
use tracing_subscriber::EnvFilter;
use weft_runtime::limits::Policy;
use weft_runtime::{Exit, LaunchOptions, Prepared, VerifiedDigests, run};

/// Runs one WEFT app: the package's component, with what its manifest grants.
///
/// Exit status: 0 finished, 1 runtime error, 2 usage, 3 launch refused, 4 app
/// trapped, 5 memory limit, 6 CPU budget, 7 stack overflow, 8 app failed.
#[derive(Parser)]
#[command(version, about)]
struct Cli {
    /// Start as a spare: make the engine, then wait for the one app to run,
    /// handed over on standard input by the supervisor (a `SOCK_SEQPACKET`
    /// socket; `weft_protocol::runtime::Handover`). With the store of
    /// precompiled components, load its warm-up artifact while waiting.
    #[arg(long, exclusive = true, value_name = "AOT_DIR", num_args = 0..=1)]
    spare: Option<Option<PathBuf>>,
    /// The app's package directory.
    #[arg(long, required_unless_present = "spare")]
    package: Option<PathBuf>,
    /// The supervisor's session socket (newline-delimited JSON).
    #[arg(long)]
    session_socket: Option<PathBuf>,
    /// Inherited directory descriptor for the app-data capability.
    #[arg(long)]
    app_data_fd: Option<i32>,
    /// Inherited directory descriptor for the xdg-documents capability.
    #[arg(long)]
    documents_fd: Option<i32>,
    /// Inherited descriptor the app's standard output is written to (the
    /// runtime's stderr otherwise; its stdout carries only `READY`).
    #[arg(long)]
    app_stdout_fd: Option<i32>,
    /// Inherited descriptor the app's standard error is written to (the
    /// runtime's stderr otherwise).
    #[arg(long)]
    app_stderr_fd: Option<i32>,
    /// The store of precompiled components.
    #[arg(long, default_value = weft_protocol::runtime::DEFAULT_AOT_DIR)]
    aot_dir: PathBuf,
    /// The installer that compiles a component with no stored artifact
    /// (`weft-pack`, else the one beside this executable).
    #[arg(long)]
    compiler: Option<PathBuf>,
    /// The limits policy (TOML); built-in defaults otherwise.
    #[arg(long)]
    policy: Option<PathBuf>,
    /// Once inside the sandbox, try to open this path and log whether that was
    /// refused (a check of the sandbox; the app runs either way).
    #[arg(long)]
    sandbox_probe: Option<PathBuf>,
    /// The manifest's SHA-256 as the supervisor verified it (hex); with
    /// `--component-sha256`, a package that changed since is refused.
    #[arg(long, value_name = "HEX", requires = "component_sha256")]
    manifest_sha256: Option<String>,
    /// The component's SHA-256 as the supervisor verified it (hex).
    #[arg(long, value_name = "HEX", requires = "manifest_sha256")]
    component_sha256: Option<String>,
    /// The component's SHA-256 as the supervisor computed it from an image
    /// mount, which cannot change (hex): its stored artifact is loaded without
    /// reading the component again.
    #[arg(long, value_name = "HEX", conflicts_with = "component_sha256")]
    artifact_key: Option<String>,
    /// Inherited descriptor of the component's artifact in the store, as the
    /// supervisor opened it and checked it against its recorded SHA-256 (once
    /// per file): loaded without hashing it again.
    #[arg(long)]
    artifact_fd: Option<i32>,
    /// Inherited descriptor (a pipe) on which the supervisor confirms that
    /// the package's files are the signed ones, checked while this runtime
    /// started: nothing of the app runs before.
    #[arg(long)]
    verified_fd: Option<i32>,
}

fn main() -> ExitCode {
    // wasmtime-wasi runs the app's I/O on a tokio runtime it starts when the
    // app first needs it, with a worker per core by default: one app needs one.
    #[expect(unsafe_code, reason = "setting the environment is unsafe once threads exist")]
    // SAFETY: the first statement of `main`: no other thread exists yet to
    // read the environment concurrently.
    unsafe {
        std::env::set_var("TOKIO_WORKER_THREADS", "1");
    }
    if let Err(error) = die_with_supervisor() {
        eprintln!("weft-runtime: {error:#}");
        return ExitCode::from(Exit::RuntimeError.code());
    }
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| EnvFilter::new("weft_runtime=info,weft_aot=info")),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let mut cli = Cli::parse();
    let mut prepared = None;
    if let Some(warm_up_from) = cli.spare.take() {
        match spare_start(warm_up_from.as_deref()) {
            Ok((handed, made)) => (cli, prepared) = (handed, Some(made)),
            Err(error) => {
                eprintln!("weft-runtime: spare: {error:#}");
                return ExitCode::from(Exit::Usage.code());
            }
        }
    }
    let Some(package) = cli.package else {
        eprintln!("weft-runtime: --package is required");
        return ExitCode::from(Exit::Usage.code());
    };
    let policy = match cli.policy.as_deref().map(read_policy).transpose() {
        Ok(policy) => policy.unwrap_or_default(),
        Err(error) => {
            eprintln!("weft-runtime: {error:#}");
            return ExitCode::from(Exit::RuntimeError.code());
        }
    };
    let options = LaunchOptions {
        package,
        session_socket: cli.session_socket,
        app_data_fd: cli.app_data_fd,
        documents_fd: cli.documents_fd,
        app_stdout_fd: cli.app_stdout_fd,
        app_stderr_fd: cli.app_stderr_fd,
        aot_dir: cli.aot_dir,
        compiler: cli.compiler,
        policy,
        sandbox_probe: cli.sandbox_probe,
        artifact_key: cli.artifact_key,
        artifact_fd: cli.artifact_fd,
        verified_fd: cli.verified_fd,
        verified: cli
            .manifest_sha256
            .zip(cli.component_sha256)
            .map(|(manifest, component)| VerifiedDigests { manifest, component }),
    };
    ExitCode::from(run(&options, prepared).code())
}

/// A spare's start: the engine and common linker made and the shared
/// system-call filter entered ahead, then the command line handed over.
/// Ties this process's life to the supervisor that names itself in
/// `WEFT_SUPERVISOR_PID` (it spawns runtimes without a fork, so cannot set the
/// signal in the child): killed when the supervisor's thread exits; refused
/// when the supervisor is gone already, its parent then being another.
fn die_with_supervisor() -> anyhow::Result<()> {
    let Some(named) = std::env::var_os(weft_protocol::runtime::SUPERVISOR_PID_ENV) else {
        return Ok(());
    };
    let supervisor: i32 = named.to_str().and_then(|pid| pid.parse().ok()).with_context(|| {
        format!("{} is not a process id: {named:?}", weft_protocol::runtime::SUPERVISOR_PID_ENV)
    })?;
    rustix::process::set_parent_process_death_signal(Some(rustix::process::Signal::KILL))
        .context("cannot set the parent-death signal")?;
    let parent = rustix::process::getppid().map_or(0, |pid| pid.as_raw_nonzero().get());
    anyhow::ensure!(
        parent == supervisor,
        "its supervisor (process {supervisor}) is gone: its parent is process {parent}"
    );
    Ok(())
}

fn spare_start(warm_up_from: Option<&std::path::Path>) -> anyhow::Result<(Cli, Prepared)> {
    let prepared = Prepared::ahead(warm_up_from)?;
    let args = weft_runtime::spare::receive_handover()?;
    let cli = Cli::try_parse_from(std::iter::once("weft-runtime".to_owned()).chain(args))?;
    Ok((cli, prepared))
}

fn read_policy(path: &std::path::Path) -> anyhow::Result<Policy> {
    let text = std::fs::read_to_string(path)?;
    toml::from_str(&text)
        .map_err(|error| anyhow::anyhow!("policy {}: {}", path.display(), error.message()))
}
