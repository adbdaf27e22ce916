//! Launch figures for `hello`, measured in one run with the release runtime:
//! spawn-to-READY with a stored artifact (AOT) and with the installer
//! compiling at the first launch, the instantiate step alone, and the peak RSS
//! of a running session.
//!
//! `cargo bench` builds the runtime with its tests' dev-dependencies, which
//! add the compiler; to measure the runtime as it ships (built on its own,
//! `cargo build --release -p weft-runtime`), name a copy of it in
//! `WEFT_RUNTIME_BIN`. The installer it runs for a missing artifact is the
//! `weft-pack` beside it.

use std::io::{BufRead, BufReader};
use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const RUNS: usize = 31;

fn hello() -> PathBuf {
    let package = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../../build/apps/hello"));
    assert!(package.join("app.wasm").is_file(), "run apps/build.sh first");
    package
}

/// The runtime under test: `WEFT_RUNTIME_BIN`, else the one cargo built.
fn runtime() -> PathBuf {
    std::env::var_os("WEFT_RUNTIME_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_BIN_EXE_weft-runtime")))
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

/// Peak resident set of a session of `hello` waiting for its UI.
fn peak_rss_kib(package: &Path, aot_dir: &Path) -> u64 {
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
    drop(connection);
    child.wait().unwrap();
    peak
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
    let binary = std::fs::read(&runtime).unwrap();
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
    let rss = peak_rss_kib(&package, aot.path());

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
    println!("  spawn to READY, stored artifact (AOT)   {aot:>10.2?}");
    println!("  spawn to READY, installer compiles      {compile:>10.2?}");
    println!(
        "  ratio compile / AOT                      {:>9.1}x  (goal >= 20x)",
        compile.as_secs_f64() / aot.as_secs_f64()
    );
    println!(
        "  component ready: deserialize {load:.2?} vs compile {compile_load:.2?} ({:.0}x)",
        compile_load.as_secs_f64() / load.as_secs_f64()
    );
    println!("  instantiate alone                       {:>10.2?}", median(instantiate_times));
    println!("  peak RSS of a waiting hello session     {rss:>7} KiB  (goal <= 8192 KiB)");
    println!(
        "  AOT p50 goal <= 5 ms: {}",
        if aot <= Duration::from_millis(5) { "met" } else { "MISSED" }
    );
}
