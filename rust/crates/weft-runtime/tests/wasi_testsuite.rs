//! A peer's conformance suite as a gate: every WASI 0.1 program of
//! wasi-testsuite (`../shared/wasi-testsuite/`), adapted into a component with
//! the command adapter of the wasmtime in use, runs through the real
//! `weft-runtime` process with a manifest granting what it needs. A test that
//! needs what WEFT does not give an app on purpose is denied by design, with
//! the reason; every other difference from what the test expects is a
//! failure. `tests/run.sh` runs it where the archive is (it says so where not).

use std::collections::BTreeMap;
use std::fs;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use weft_protocol::runtime::{APP_EXIT_STATUS, Exit};

mod common;

/// The archive of prebuilt programs (see its README).
fn archive() -> PathBuf {
    std::env::var_os("WEFT_WASI_TESTSUITE").map(PathBuf::from).unwrap_or_else(|| {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../../../shared/wasi-testsuite/wasi-testsuite-wasip1.tar.gz")
    })
}

/// How long one program may run (a debug build compiles it first).
const TIMEOUT: Duration = Duration::from_secs(120);

/// What a test's JSON file says it needs and expects.
#[derive(Debug, Default, serde::Deserialize)]
#[serde(default)]
struct Spec {
    args: Vec<String>,
    env: BTreeMap<String, String>,
    root: Option<String>,
    exit_code: i32,
    stdout: Option<String>,
    stderr: Option<String>,
}

/// How one program's run compared with its spec.
enum Outcome {
    Passed,
    Failed(String),
    Denied(String),
    /// Fails as [`UPSTREAM`] says, for a reason outside WEFT.
    Upstream(&'static str),
}

/// Programs that fail for a reason upstream of WEFT, named: the WASI 0.1
/// command adapter of wasmtime 48 (`wasi-preview1-component-adapter-provider`),
/// which every WASI 0.1 program needs to become a component. Each must still
/// fail; one that passes is reported, so the list never outlives the cause.
const UPSTREAM: &[(&str, &str)] = &[
    (
        "assemblyscript/proc_exit-failure",
        "the adapter's proc_exit turns every non-zero status into wasi:cli/exit.exit(err), \
         which is status 1 (the test expects 33; a component that calls exit-with-code keeps it)",
    ),
    (
        "assemblyscript/fd_write-to-invalid-fd",
        "the adapter's fd_write returns success for a write with no buffers before it looks \
         at the descriptor (the test expects EBADF)",
    ),
];

/// What WEFT does not give an app on purpose, as it applies to `spec`.
fn denial(spec: &Spec) -> Option<String> {
    if !spec.args.is_empty() {
        return Some(format!(
            "needs arguments {:?}: an app's only argument is its id (docs/app-guide.md)",
            spec.args
        ));
    }
    if !spec.env.is_empty() {
        return Some(format!(
            "needs environment variables {:?}: an app gets no environment (docs/app-guide.md)",
            spec.env.keys().collect::<Vec<_>>()
        ));
    }
    None
}

/// The component of a WASI 0.1 module: the module wrapped with the command
/// adapter of the wasmtime the runtime links.
fn adapt(module: &[u8]) -> Vec<u8> {
    wit_component::ComponentEncoder::default()
        .module(module)
        .and_then(|encoder| {
            encoder.adapter(
                "wasi_snapshot_preview1",
                wasi_preview1_component_adapter_provider::WASI_SNAPSHOT_PREVIEW1_COMMAND_ADAPTER,
            )
        })
        .and_then(|encoder| encoder.validate(true).encode())
        .expect("adapting the module into a component")
}

/// A package for the program: its component and a manifest that grants the
/// app-data directory when the test has a root directory.
fn package(dir: &Path, name: &str, component: &[u8], spec: &Spec) -> PathBuf {
    let package = dir.join("package");
    fs::create_dir_all(&package).unwrap();
    let id: String =
        name.chars().map(|c| if c.is_ascii_alphanumeric() { c } else { '-' }).collect();
    let capabilities = if spec.root.is_some() { r#""fs:rw:app-data""# } else { "" };
    fs::write(
        package.join("wapp.toml"),
        format!(
            "[package]\nid = \"org.wasi-testsuite.{id}\"\nname = \"{id}\"\nversion = \"0.1.0\"\n\
             capabilities = [{capabilities}]\n\n[runtime]\nmodule = \"app.wasm\"\n\n\
             [ui]\nentry = \"ui/index.html\"\n"
        ),
    )
    .unwrap();
    fs::write(package.join("app.wasm"), component).unwrap();
    package
}

/// Descriptors are made inheritable one spawn at a time.
static SPAWNING: Mutex<()> = Mutex::new(());

/// Runs one program through the runtime and compares what it did with `spec`.
fn run_one(wasm: &Path, spec: &Spec, scratch: &Path, aot_dir: &Path) -> Outcome {
    if let Some(reason) = denial(spec) {
        return Outcome::Denied(reason);
    }
    let name = wasm.file_stem().unwrap().to_string_lossy().into_owned();
    let component = adapt(&fs::read(wasm).unwrap());
    let package = package(scratch, &name, &component, spec);
    let stdout_path = scratch.join("stdout");
    let stderr_path = scratch.join("stderr");
    let stdout = fs::File::create(&stdout_path).unwrap();
    let stderr = fs::File::create(&stderr_path).unwrap();
    // The test's root directory is the app's data directory; tests change
    // it, so each gets its own copy.
    let data = spec.root.as_ref().map(|root| {
        let copy = scratch.join("data");
        weft_testkit::copy_tree(&wasm.parent().unwrap().join(root), &copy);
        fs::File::open(&copy).unwrap()
    });

    let mut command = Command::new(env!("CARGO_BIN_EXE_weft-runtime"));
    command
        .arg("--package")
        .arg(&package)
        .arg("--aot-dir")
        .arg(aot_dir)
        .arg("--app-stdout-fd")
        .arg(stdout.as_raw_fd().to_string())
        .arg("--app-stderr-fd")
        .arg(stderr.as_raw_fd().to_string())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    if let Some(data) = &data {
        command.arg("--app-data-fd").arg(data.as_raw_fd().to_string());
    }
    let mut child = {
        let _spawning = SPAWNING.lock().unwrap();
        let inherited: Vec<&fs::File> = [&stdout, &stderr].into_iter().chain(&data).collect();
        for file in &inherited {
            rustix::io::fcntl_setfd(file, rustix::io::FdFlags::empty()).unwrap();
        }
        let child = command.spawn().unwrap();
        for file in &inherited {
            rustix::io::fcntl_setfd(file, rustix::io::FdFlags::CLOEXEC).unwrap();
        }
        child
    };
    let deadline = Instant::now() + TIMEOUT;
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            child.kill().unwrap();
            child.wait().unwrap();
            return Outcome::Failed(format!("still running after {TIMEOUT:?}"));
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    let log = std::io::read_to_string(child.stderr.take().unwrap()).unwrap();
    let app_stdout = fs::read_to_string(&stdout_path).unwrap();
    let app_stderr = fs::read_to_string(&stderr_path).unwrap();

    let app_status = match Exit::from_code(status.code().unwrap_or(-1)) {
        Some(Exit::Finished) => Some(0),
        Some(Exit::AppFailed) => log.split_once(APP_EXIT_STATUS).and_then(|(_, rest)| {
            rest.split(|c: char| !c.is_ascii_digit()).next()?.parse::<i32>().ok()
        }),
        _ => None,
    };
    let mut problems = Vec::new();
    if app_status != Some(spec.exit_code) {
        problems.push(format!(
            "exit status {app_status:?} (runtime {status}), expected {}",
            spec.exit_code
        ));
    }
    // As wasi-testsuite's own runner: the expected bytes come first.
    for (stream, expected, found) in
        [("stdout", &spec.stdout, &app_stdout), ("stderr", &spec.stderr, &app_stderr)]
    {
        if let Some(expected) = expected
            && !found.starts_with(expected.as_str())
        {
            problems.push(format!("{stream} {found:?}, expected {expected:?}"));
        }
    }
    if problems.is_empty() {
        Outcome::Passed
    } else {
        Outcome::Failed(format!(
            "{}\n      app stderr: {}\n      runtime: {}",
            problems.join("; "),
            app_stderr.trim_end(),
            log.trim_end().replace('\n', "\n        ")
        ))
    }
}

/// Every program of the suite, with its spec.
fn programs(tree: &Path) -> Vec<(PathBuf, Spec)> {
    let mut programs = Vec::new();
    for language in fs::read_dir(tree.join("tests")).unwrap() {
        let dir = language.unwrap().path().join("testsuite/wasm32-wasip1");
        for entry in fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|extension| extension == "wasm") {
                let spec = match fs::read_to_string(path.with_extension("json")) {
                    Ok(text) => serde_json::from_str(&text)
                        .unwrap_or_else(|error| panic!("{}: {error}", path.display())),
                    Err(_) => Spec::default(),
                };
                programs.push((path, spec));
            }
        }
    }
    programs.sort_by(|a, b| a.0.cmp(&b.0));
    programs
}

#[test]
#[ignore = "needs ../shared/wasi-testsuite; tests/run.sh runs it where the archive is"]
fn wasi_testsuite_programs_pass_or_are_denied_by_design() {
    let archive = archive();
    assert!(archive.exists(), "no wasi-testsuite archive at {}", archive.display());
    let tree = Path::new(env!("CARGO_TARGET_TMPDIR")).join("wasi-testsuite");
    let _ = fs::remove_dir_all(&tree);
    fs::create_dir_all(&tree).unwrap();
    let unpacked = Command::new("tar").arg("xzf").arg(&archive).arg("-C").arg(&tree).status();
    assert!(unpacked.unwrap().success(), "unpacking {}", archive.display());
    let programs = programs(&tree);
    let aot_dir = common::shared_aot_dir();

    let results: Mutex<Vec<(String, Outcome)>> = Mutex::new(Vec::new());
    let next = Mutex::new(programs.iter());
    std::thread::scope(|scope| {
        for _ in 0..std::thread::available_parallelism().map_or(2, usize::from) {
            scope.spawn(|| {
                loop {
                    let Some((wasm, spec)) = next.lock().unwrap().next() else { return };
                    let scratch = tempfile::tempdir().unwrap();
                    let suite = wasm.ancestors().nth(3).unwrap().file_name().unwrap();
                    let name = format!(
                        "{}/{}",
                        suite.to_string_lossy(),
                        wasm.file_stem().unwrap().to_string_lossy()
                    );
                    let upstream = UPSTREAM.iter().find(|(test, _)| *test == name);
                    let outcome = match (run_one(wasm, spec, scratch.path(), &aot_dir), upstream) {
                        (Outcome::Failed(_), Some((_, why))) => Outcome::Upstream(why),
                        (Outcome::Passed, Some(_)) => {
                            Outcome::Failed("passes now: remove it from UPSTREAM".to_owned())
                        }
                        (outcome, _) => outcome,
                    };
                    results.lock().unwrap().push((name, outcome));
                }
            });
        }
    });

    let mut results = results.into_inner().unwrap();
    results.sort_by(|a, b| a.0.cmp(&b.0));
    let (mut passed, mut failed, mut denied, mut upstream) = (0, 0, 0, 0);
    for (name, outcome) in &results {
        match outcome {
            Outcome::Passed => passed += 1,
            Outcome::Failed(why) => {
                failed += 1;
                println!("FAIL    {name}: {why}");
            }
            Outcome::Denied(why) => {
                denied += 1;
                println!("DENIED  {name}: {why}");
            }
            Outcome::Upstream(why) => {
                upstream += 1;
                println!("UPSTREAM {name}: {why}");
            }
        }
    }
    println!(
        "wasi-testsuite: {passed} passed, {failed} failed, {denied} denied by design, \
         {upstream} failing upstream (named above)"
    );
    assert_eq!(failed, 0, "{failed} wasi-testsuite programs failed (above)");
    assert_eq!(passed + denied + upstream, results.len());
    assert!(passed >= 60, "only {passed} programs ran to a pass");
}
