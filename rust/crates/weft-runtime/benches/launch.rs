//! Launch figures for `hello`, measured in one run with the release runtime:
//! spawn-to-READY with a stored artifact (AOT) and with the installer
//! compiling at the first launch, the instantiate step alone, a spare
//! runtime's hand-over to READY with and without its warm-up, and the peak
//! RSS of a running session.
//!
//! `cargo bench` builds the runtime with its tests' dev-dependencies, which
//! add the compiler, so the bench measures the runtime as it ships instead:
//! built on its own (`cargo build --release -p weft-runtime`) into
//! `<target>/shipped-runtime`, once and then incrementally, or the one named in
//! `WEFT_RUNTIME_BIN`. The installer it runs for a missing artifact is the
//! `weft-pack` beside it.

#[path = "../tests/common/mod.rs"]
mod common;

use std::io::{BufRead, BufReader};
use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const RUNS: usize = 31;
/// Hand-overs to a spare, with and without its warm-up each: the difference is
/// tens of microseconds, so more runs than [`RUNS`].
const SPARE_RUNS: usize = 101;

fn hello() -> PathBuf {
    let package = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../../build/apps/hello"));
    assert!(package.join("app.wasm").is_file(), "run apps/build.sh first");
    package
}

/// The runtime under test: `WEFT_RUNTIME_BIN`, else the runtime as it ships
/// (built the first time it is asked for).
fn runtime() -> &'static Path {
    static RUNTIME: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    RUNTIME.get_or_init(|| {
        weft_testkit::shipped_runtime(Path::new(env!("CARGO_BIN_EXE_weft-runtime")))
    })
}

/// Spawns the runtime and returns the time until READY and its stderr.
fn launch_to_ready(package: &Path, aot_dir: &Path) -> (Duration, String) {
    let started = Instant::now();
    let mut child = Command::new(runtime())
        .arg("--package")
        .arg(package)
        .arg("--aot-dir")
        .arg(aot_dir)
        .env("RUST_LOG", "weft_runtime=debug")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
    let elapsed = started.elapsed();
    assert_eq!(line.trim(), "READY");
    let output = child.wait_with_output().unwrap();
    (elapsed, String::from_utf8_lossy(&output.stderr).into_owned())
}

/// A spare runtime (`--spare`, given the store `aot_dir` to warm up from when
/// `warm_up`) handed hello as weft-appd hands it (its artifact open, by its
/// key) once it waits: the time from the hand-over to READY, and the logged
/// time it took to load the component.
fn spare_to_ready(package: &Path, aot_dir: &Path, warm_up: bool) -> (Duration, Duration) {
    let mut command = Command::new(runtime());
    command.arg("--spare").env("RUST_LOG", "weft_runtime=debug");
    if warm_up {
        command.arg(aot_dir);
    }
    let (mut child, socket) = common::spare_of(&mut command);
    let key = weft_aot::component_digest(&std::fs::read(package.join("app.wasm")).unwrap());
    let artifact =
        std::fs::File::open(weft_aot::ArtifactStore::new(aot_dir).artifact_path(&key)).unwrap();
    let handover = weft_protocol::runtime::Handover {
        args: ["--package", package.to_str().unwrap(), "--aot-dir", aot_dir.to_str().unwrap()]
            .into_iter()
            .chain(["--artifact-key", &key])
            .map(str::to_owned)
            .collect(),
        descriptor_options: vec!["--artifact-fd".to_owned()],
    };
    let json = serde_json::to_vec(&handover).unwrap();
    common::wait_until_waiting(&child);
    let started = Instant::now();
    assert!(common::send(&socket, &json, &[std::os::fd::AsFd::as_fd(&artifact)]));
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
    let elapsed = started.elapsed();
    assert_eq!(line.trim(), "READY");
    let output = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(stderr.contains("loaded the warm-up artifact"), warm_up, "{stderr}");
    assert!(stderr.contains("the supervisor checked"), "not loaded as handed over: {stderr}");
    (elapsed, logged_micros(&stderr, "component ready"))
}

fn median(mut values: Vec<Duration>) -> Duration {
    values.sort();
    values[values.len() / 2]
}

/// The `micros=N` figure of the log line containing `message`.
fn logged_micros(stderr: &str, message: &str) -> Duration {
    let line = stderr.lines().find(|line| line.contains(message)).expect("no timing line");
    let micros =
        line.split("micros=").nth(1).and_then(|rest| rest.split_whitespace().next()).unwrap();
    Duration::from_micros(micros.trim_end_matches(|c: char| !c.is_ascii_digit()).parse().unwrap())
}

/// Peak resident set and proportional set (shared pages divided among the
/// processes that map them) of a session of `hello` waiting for its UI, KiB.
fn peak_rss_and_pss_kib(package: &Path, aot_dir: &Path) -> (u64, u64) {
    let scratch = tempfile::tempdir().unwrap();
    let socket = scratch.path().join("session.sock");
    let listener = UnixListener::bind(&socket).unwrap();
    let mut child = Command::new(runtime())
        .arg("--package")
        .arg(package)
        .arg("--aot-dir")
        .arg(aot_dir)
        .arg("--session-socket")
        .arg(&socket)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let (connection, _) = listener.accept().unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
    // hello now waits in ipc.recv: the session is fully up.
    std::thread::sleep(Duration::from_millis(100));
    let status = std::fs::read_to_string(format!("/proc/{}/status", child.id())).unwrap();
    let peak = status
        .lines()
        .find_map(|line| line.strip_prefix("VmHWM:"))
        .and_then(|value| value.trim().trim_end_matches(" kB").parse().ok())
        .unwrap();
    let rollup = std::fs::read_to_string(format!("/proc/{}/smaps_rollup", child.id())).unwrap();
    let pss = rollup
        .lines()
        .find_map(|line| line.strip_prefix("Pss:"))
        .and_then(|value| value.trim().trim_end_matches(" kB").parse().ok())
        .unwrap();
    drop(connection);
    child.wait().unwrap();
    (peak, pss)
}

/// The wasmtime CLI, the peer a user would compare with: `WEFT_WASMTIME_CLI`,
/// else the one this bench installed under `WEFT_CACHE_DIR` (installing it
/// there the first time: wasmtime-cli at the runtime's wasmtime version).
fn wasmtime_cli() -> PathBuf {
    if let Some(path) = std::env::var_os("WEFT_WASMTIME_CLI") {
        return PathBuf::from(path);
    }
    let cache = std::env::var_os("WEFT_CACHE_DIR").unwrap_or_else(|| "/var/cache/weft".into());
    let root = Path::new(&cache).join("tools/wasmtime-cli");
    let cli = root.join("bin/wasmtime");
    if !cli.is_file() {
        eprintln!(
            "installing wasmtime-cli 48.0.8 into {} (once; about 15 minutes)",
            root.display()
        );
        let status = Command::new("cargo")
            .args(["install", "--locked", "--quiet", "wasmtime-cli", "--version", "48.0.8"])
            .args(["--no-default-features", "--features"])
            .arg("run,compile,cranelift,component-model,parallel-compilation")
            .arg("--root")
            .arg(&root)
            .env("CARGO_TARGET_DIR", Path::new(&cache).join("tools/wasmtime-cli-target"))
            .status()
            .unwrap();
        assert!(status.success(), "installing wasmtime-cli failed");
    }
    cli
}

/// `wasmtime run` of `artifact` (hello, precompiled by the same CLI) from spawn
/// to exit: the CLI links none of WEFT's imports, so hello traps at its first
/// one, `notify.ready`, the very call that is READY in WEFT.
fn wasmtime_run_to_ready(cli: &Path, artifact: &Path) -> Duration {
    let started = Instant::now();
    let output = Command::new(cli)
        .args(["run", "-W", "unknown-imports-trap=y", "--allow-precompiled"])
        .arg(artifact)
        .output()
        .unwrap();
    let elapsed = started.elapsed();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("weft:app/notify@0.1.0#ready"), "wasmtime run: {stderr}");
    elapsed
}

fn main() {
    let package = hello();
    let runtime = runtime();
    let installer = runtime.with_file_name("weft-pack");
    assert!(
        installer.is_file(),
        "{} is missing: the runtime has it compile components (cargo build --release -p weft-pack)",
        installer.display()
    );
    let binary = std::fs::read(runtime).unwrap();
    let links_compiler =
        binary.windows(b"cranelift_codegen".len()).any(|window| window == b"cranelift_codegen");
    let aot = tempfile::tempdir().unwrap();
    launch_to_ready(&package, aot.path()); // stores the artifact
    let mut aot_times = Vec::new();
    let mut instantiate_times = Vec::new();
    let mut load_times = Vec::new();
    for _ in 0..RUNS {
        let (elapsed, stderr) = launch_to_ready(&package, aot.path());
        aot_times.push(elapsed);
        instantiate_times.push(logged_micros(&stderr, "instantiated"));
        load_times.push(logged_micros(&stderr, "component ready"));
    }
    let mut compile_times = Vec::new();
    let mut compile_load_times = Vec::new();
    for _ in 0..RUNS {
        let fresh = tempfile::tempdir().unwrap();
        let (elapsed, stderr) = launch_to_ready(&package, fresh.path());
        compile_times.push(elapsed);
        compile_load_times.push(logged_micros(&stderr, "component ready"));
    }
    let (mut warm, mut warm_load, mut plain, mut plain_load) = (vec![], vec![], vec![], vec![]);
    for _ in 0..SPARE_RUNS {
        let (elapsed, load) = spare_to_ready(&package, aot.path(), true);
        warm.push(elapsed);
        warm_load.push(load);
        let (elapsed, load) = spare_to_ready(&package, aot.path(), false);
        plain.push(elapsed);
        plain_load.push(load);
    }
    let (rss, pss) = peak_rss_and_pss_kib(&package, aot.path());

    let cli = wasmtime_cli();
    let peer_artifact = aot.path().join("hello-by-wasmtime-cli.cwasm");
    let compiled = Command::new(&cli)
        .arg("compile")
        .arg(package.join("app.wasm"))
        .arg("-o")
        .arg(&peer_artifact)
        .status()
        .unwrap();
    assert!(compiled.success(), "wasmtime compile failed");
    wasmtime_run_to_ready(&cli, &peer_artifact);
    let peer = median((0..RUNS).map(|_| wasmtime_run_to_ready(&cli, &peer_artifact)).collect());

    let (aot, compile) = (median(aot_times), median(compile_times));
    let (load, compile_load) = (median(load_times), median(compile_load_times));
    println!(
        "weft-runtime bench: hello ({} bytes), release build, median of {RUNS} launches",
        std::fs::metadata(package.join("app.wasm")).unwrap().len()
    );
    println!(
        "  runtime {}: {:.1} MB, {}",
        runtime.display(),
        binary.len() as f64 / 1e6,
        if links_compiler { "links Cranelift" } else { "no compiler" }
    );
    println!(
        "  spawn to READY, stored artifact (AOT)   {aot:>10.2?}  (goal <= 3 ms cold: {:.2}x of it)",
        aot.as_secs_f64() / 3e-3
    );
    println!("  `wasmtime run` of hello, precompiled     {peer:>10.2?}  ({})", cli.display());
    println!(
        "  ratio WEFT / wasmtime run                {:>9.2}x  (goal <= 0.5x)",
        aot.as_secs_f64() / peer.as_secs_f64()
    );
    println!("  spawn to READY, installer compiles      {compile:>10.2?}");
    println!(
        "  component ready: deserialize {load:.2?} vs compile {compile_load:.2?} ({:.0}x)",
        compile_load.as_secs_f64() / load.as_secs_f64()
    );
    println!(
        "  spare ({SPARE_RUNS} each), hand-over to READY: warmed up {:.2?} (component loaded in {:.2?}), not warmed up {:.2?} ({:.2?})",
        median(warm),
        median(warm_load),
        median(plain),
        median(plain_load)
    );
    println!("  instantiate alone                       {:>10.2?}", median(instantiate_times));
    println!(
        "  waiting hello session: peak RSS {:.1} MiB, PSS {:.1} MiB  (goal <= 6 MiB: {:.2}x of it)",
        rss as f64 / 1024.0,
        pss as f64 / 1024.0,
        rss as f64 / 6144.0
    );
}
