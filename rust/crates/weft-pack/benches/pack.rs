//! Package and image throughput on a 10 MiB app: sign (hash + sign), build-image,
//! signature check alone, full package verification and full image verification.
//! Prints the median of several runs, MiB/s, and ratios measured in this run.

use std::fs;
use std::path::Path;
use std::time::{Duration, Instant};

use weft_pack::image::{build_image, verify_image};
use weft_pack::keys::{TrustedKeys, generate_key, load_signing_key};
use weft_pack::statement::Statement;
use weft_pack::{sign_package, verify_package};

const APP_BYTES: usize = 10 << 20;
const RUNS: usize = 7;

/// The median wall time of `RUNS` calls of `f`.
fn median(mut f: impl FnMut()) -> Duration {
    let mut times: Vec<Duration> = (0..RUNS)
        .map(|_| {
            let start = Instant::now();
            f();
            start.elapsed()
        })
        .collect();
    times.sort();
    times[RUNS / 2]
}

fn mib_per_s(time: Duration) -> f64 {
    (APP_BYTES as f64 / (1 << 20) as f64) / time.as_secs_f64()
}

/// A package: a tiny valid component, a manifest, and 10 MiB of incompressible
/// UI assets in 10 files.
fn write_package(dir: &Path) {
    fs::create_dir_all(dir.join("ui/assets")).unwrap();
    fs::write(
        dir.join("wapp.toml"),
        "[package]\nid = \"org.example.bench\"\nname = \"Bench\"\nversion = \"1.0.0\"\n\
         [runtime]\nmodule = \"app.wasm\"\n[ui]\nentry = \"ui/index.html\"\n",
    )
    .unwrap();
    // The smallest valid component: the 8-byte header alone.
    fs::write(dir.join("app.wasm"), b"\0asm\x0d\0\x01\0").unwrap();
    fs::write(dir.join("ui/index.html"), "<!doctype html>").unwrap();
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    for index in 0..10 {
        let bytes: Vec<u8> = (0..APP_BYTES / 10)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                state as u8
            })
            .collect();
        fs::write(dir.join(format!("ui/assets/{index}.bin")), bytes).unwrap();
    }
}

fn main() {
    let work = tempfile::tempdir().unwrap();
    let package = work.path().join("pkg");
    write_package(&package);
    let trusted_dir = work.path().join("trusted");
    fs::create_dir(&trusted_dir).unwrap();
    let key_path = work.path().join("bench.key");
    generate_key(&key_path, &trusted_dir.join("bench.pub")).unwrap();
    let key = load_signing_key(&key_path).unwrap();
    let trusted = TrustedKeys::load(&trusted_dir).unwrap();

    let sign = median(|| {
        sign_package(&package, &key).unwrap();
    });
    let out = work.path().join("out");
    let mut built = None;
    let build = median(|| built = Some(build_image(&package, &key, &out, &|_| {}).unwrap()));
    let built = built.unwrap();
    let signature_text = fs::read_to_string(&built.signature).unwrap();
    let signature_only = median(|| {
        Statement::verify(&signature_text, &trusted).unwrap();
    });
    let verify_dir = median(|| {
        verify_package(&package, &trusted).unwrap();
    });
    let verify_img = median(|| {
        verify_image(&built.image, &built.signature, &trusted, &|_| {}).unwrap();
    });
    let image_size = fs::metadata(&built.image).unwrap().len();

    println!("weft-pack bench: 10 MiB app (10 incompressible files), median of {RUNS} runs");
    println!(
        "  sign package (scan + SHA-256 + Ed25519)  {:>9.1?}  {:>7.0} MiB/s",
        sign,
        mib_per_s(sign)
    );
    println!(
        "  build-image (stage + mkfs + verity + sign) {:>7.1?}  {:>7.0} MiB/s  (image {image_size} bytes)",
        build,
        mib_per_s(build)
    );
    println!("  signature check alone                     {signature_only:>9.1?}");
    println!(
        "  verify package directory (full)           {:>9.1?}  {:>7.0} MiB/s",
        verify_dir,
        mib_per_s(verify_dir)
    );
    println!(
        "  verify image (verity + EROFS read-back)   {:>9.1?}  {:>7.0} MiB/s",
        verify_img,
        mib_per_s(verify_img)
    );
    println!(
        "  ratios: build-image / sign = {:.1}, verify image / verify dir = {:.1}, signature check / verify image = {:.4}",
        build.as_secs_f64() / sign.as_secs_f64(),
        verify_img.as_secs_f64() / verify_dir.as_secs_f64(),
        signature_only.as_secs_f64() / verify_img.as_secs_f64()
    );
    println!(
        "  targets: build-image <= 1 s: {}; signature check <= 50 ms: {}",
        if build <= Duration::from_secs(1) { "met" } else { "MISSED" },
        if signature_only <= Duration::from_millis(50) { "met" } else { "MISSED" }
    );
}
