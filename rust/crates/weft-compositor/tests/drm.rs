//! The DRM/KMS backend refuses what is not a display card before it opens a
//! seat or a device. (Driving a real card runs in the boot-to-app VM: this
//! host has no /dev/dri.)

use std::process::Command;

fn compositor_with(device: &str) -> (i32, String) {
    let runtime = tempfile::tempdir().unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_weft-compositor"))
        .args(["--backend", "drm", "--drm-device", device])
        .env("XDG_RUNTIME_DIR", runtime.path())
        .env("RUST_LOG", "error")
        .output()
        .unwrap();
    (output.status.code().unwrap_or(-1), String::from_utf8_lossy(&output.stderr).into_owned())
}

#[test]
fn drm_backend_refuses_devices_that_are_not_cards() {
    let scratch = tempfile::tempdir().unwrap();
    let regular = scratch.path().join("card0");
    std::fs::write(&regular, b"not a card").unwrap();
    let regular = regular.to_str().unwrap().to_owned();
    for (device, expected) in [
        ("/dev/null", "/dev/null is not a DRM device"),
        (regular.as_str(), "card0 is not a DRM device"),
        ("/nonexistent/card0", "DRM device /nonexistent/card0: No such file"),
    ] {
        let (code, stderr) = compositor_with(device);
        assert_eq!(code, 1, "{device}: {stderr}");
        assert!(stderr.contains(expected), "{device}: {stderr}");
    }
}
