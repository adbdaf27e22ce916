#!/usr/bin/env bash
# The whole test suite, as `make test` and CI run it: builds the example apps
# (installing the guest toolchain when missing), checks the Nix files, then
# formats, lints and tests the Rust workspace, runs wasi-testsuite's programs
# through the runtime (when ../shared has them; it says so when skipped),
# replays and briefly runs the fuzz targets (tests/fuzz.sh), runs the Servo suite when the
# cached Servo build is there (tests/servo.sh; it says so when skipped), and
# boots WEFT in a VM to run the boot-to-app scenarios (tests/vm/). Warnings
# fail the run.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
export WEFT_CACHE_DIR=${WEFT_CACHE_DIR:-/var/cache/weft}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$WEFT_CACHE_DIR/target}
cd "$repo"

step() { printf '\n== %s\n' "$*"; }

step "host tools: erofs-utils, cryptsetup-bin"
bash tests/install-host-tools.sh

step "apps: build every app into a component"
bash apps/build.sh

step "nix: parse, format and lint every .nix file; evaluate every flake output; check the rendered units"
bash tests/check-nix.sh
# The Rust tests evaluate the settings table with the same Nix.
PATH=$(bash "$repo/../shared/nix-eval/setup.sh" 2>/dev/null):$PATH
export PATH

bash tests/claim-target-dir.sh "$CARGO_TARGET_DIR" "$repo/rust/Cargo.toml"
cd rust
step "rust: formatting"
cargo fmt --all --check

step "rust: trust boundaries (no compiler in the privileged and supervising crates)"
bash "$repo/tests/check-trust.sh"

step "rust: clippy (warnings are errors)"
cargo clippy --quiet --locked --workspace --all-targets -- -D warnings

step "rust: doc tests"
cargo test --quiet --locked --workspace --doc

# nextest runs each test in its own process and ends with one summary line.
if ! cargo nextest --version >/dev/null 2>&1; then
  step "installing cargo-nextest"
  cargo install --locked cargo-nextest
fi
step "rust: tests"
cargo nextest run --locked --workspace --no-fail-fast

step "wasi: wasi-testsuite's WASI 0.1 programs through the real runtime (a peer's conformance suite)"
wasi_archive=${WEFT_WASI_TESTSUITE:-$repo/../shared/wasi-testsuite/wasi-testsuite-wasip1.tar.gz}
if [[ -f $wasi_archive ]]; then
  wasi_log=$CARGO_TARGET_DIR/wasi-testsuite.log
  wasi_status=0
  WEFT_WASI_TESTSUITE=$wasi_archive cargo nextest run --locked -p weft-runtime \
    --test wasi_testsuite --run-ignored only --no-capture >"$wasi_log" 2>&1 || wasi_status=$?
  # Each program that did not simply pass, why, and the count.
  grep -E '^(FAIL|DENIED|UPSTREAM|wasi-testsuite:)|^ +(app stderr|runtime):' "$wasi_log" || true
  if ((wasi_status != 0)); then
    tail -40 "$wasi_log"
    exit "$wasi_status"
  fi
else
  echo "SKIPPED: the WASI conformance gate (no wasi-testsuite archive at $wasi_archive;"
  echo "         set WEFT_WASI_TESTSUITE to one, see ../shared/wasi-testsuite/README.md)"
fi

step "fuzz: every parser of untrusted input on its committed corpus, then 10 s each (tests/fuzz.sh)"
bash "$repo/tests/fuzz.sh" gate 10

step "servo: the web shells on Servo (when their cached build is there)"
bash "$repo/tests/servo.sh" test

step "vm: boot WEFT under QEMU (TCG) and run the boot-to-app scenarios"
bash "$repo/tests/vm/run.sh"
