#!/usr/bin/env bash
# The web shells on Servo (rust/crates/weft-servo, its own workspace).
#
#   bash tests/servo.sh build   build them (`make servo`): cold, Servo takes
#                               75+ minutes on 2 cores; later builds reuse
#                               $WEFT_CACHE_DIR/servo-target and the SpiderMonkey
#                               archive in $WEFT_CACHE_DIR/mozjs
#   bash tests/servo.sh test    the Servo suite (`make test-servo`, and part of
#                               `make test`): only when that cached build is
#                               there; otherwise it says it was skipped and why
#   bash tests/servo.sh bins    prints the directory of the built shells
#
# Everything else in WEFT builds and tests without Servo.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
export WEFT_CACHE_DIR=${WEFT_CACHE_DIR:-/var/cache/weft}
workspace_target=${CARGO_TARGET_DIR:-$WEFT_CACHE_DIR/target}
servo_target=$WEFT_CACHE_DIR/servo-target
archive=$WEFT_CACHE_DIR/mozjs/libmozjs-x86_64-unknown-linux-gnu.tar.gz
manifest=$repo/rust/crates/weft-servo/Cargo.toml
mode=${1:-test}

# mozjs_sys and the C/C++ crates under Servo rebuild when any of these change,
# so every build uses exactly this environment.
servo_env() {
  export CARGO_TARGET_DIR=$servo_target CC=clang-19 CXX=clang++-19 LIBCLANG_PATH=/usr/lib/llvm-19/lib
  unset MOZJS_FROM_SOURCE MOZJS_CREATE_ARCHIVE MOZJS_ARCHIVE
  if [[ -f $archive ]]; then
    export MOZJS_ARCHIVE=$archive
  else
    # First build: SpiderMonkey from its bundled source, kept as an archive.
    export MOZJS_FROM_SOURCE=1 MOZJS_CREATE_ARCHIVE=1
  fi
}

install_build_tools() {
  local missing=()
  command -v clang-19 >/dev/null || missing+=(clang-19)
  [[ -d /usr/lib/llvm-19/lib ]] && ls /usr/lib/llvm-19/lib/libclang*.so* >/dev/null 2>&1 || missing+=(libclang-19-dev)
  pkg-config --exists fontconfig 2>/dev/null || missing+=(libfontconfig1-dev)
  command -v python3 >/dev/null || missing+=(python3)
  if ((${#missing[@]} > 0)); then
    echo "tests/servo.sh: installing ${missing[*]}" >&2
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  fi
}

build() {
  install_build_tools
  servo_env
  local started=$SECONDS
  nice -n 10 cargo build --locked --manifest-path "$manifest" --bins
  echo "tests/servo.sh: the shells built in $((SECONDS - started)) s"
  if [[ ! -f $archive ]]; then
    # mozjs_sys leaves the archive at the top of the target directory.
    local made=$servo_target/$(basename "$archive")
    if [[ ! -f $made ]]; then
      made=$(find "$servo_target" -name "$(basename "$archive")" -print -quit)
    fi
    if [[ -z $made || ! -f $made ]]; then
      echo "tests/servo.sh: the shells built, but mozjs_sys left no $(basename "$archive") in" \
        "$servo_target: without it the Servo suite would be skipped" >&2
      exit 1
    fi
    mkdir -p "$(dirname "$archive")"
    cp "$made" "$archive"
    echo "tests/servo.sh: kept SpiderMonkey as $archive"
  fi
}

case $mode in
  build)
    build
    ;;
  bins)
    echo "$servo_target/debug"
    ;;
  test)
    if [[ -x $servo_target/debug/weft-app-shell && ! -f $archive ]]; then
      # `make servo` succeeded, yet the suite would be skipped: never silently.
      echo "FAILED: the shells are built in $servo_target but the SpiderMonkey archive" \
        "$archive is missing; run 'make servo' again to keep it" >&2
      exit 1
    fi
    # Only a finished `make servo` (both shells, the archive) runs the suite: a
    # seeded archive or a cut-off build must not start a cold Servo build here.
    if [[ ! -f $archive || ! -x $servo_target/debug/weft-app-shell ||
      ! -x $servo_target/debug/weft-servo-shell ]]; then
      echo "SKIPPED: the Servo suite: there is no cached Servo build ($servo_target with the" \
        "SpiderMonkey archive $archive). A cold build takes 75+ minutes on 2 cores; run" \
        "'make servo' once to make it, then 'make test' runs this suite too."
      exit 0
    fi
    build
    servo_env
    step() { printf '\n== %s\n' "$*"; }
    step "servo: formatting and clippy (warnings are errors)"
    cargo fmt --manifest-path "$manifest" --check
    cargo clippy --quiet --locked --manifest-path "$manifest" --all-targets -- -D warnings
    step "servo: the shells' own tests (the sandbox, in a child process)"
    cargo test --quiet --locked --manifest-path "$manifest" --lib
    step "servo: the shells on the compositor under weft-appd"
    export CARGO_TARGET_DIR=$workspace_target
    export WEFT_SERVO_BIN_DIR=$servo_target/debug WEFT_SERVO_OUT=$WEFT_CACHE_DIR/servo-out
    unset WAYLAND_DISPLAY DISPLAY
    cd "$repo/rust"
    cargo nextest run --locked -p weft-shell-core --test servo --run-ignored only --no-capture \
      --no-fail-fast 2>&1 | grep -v '^\s*$' | grep -v ' INFO \| WARN ' || exit 1
    echo "the Servo suite's screens: $WEFT_SERVO_OUT"
    ;;
  *)
    echo "usage: bash tests/servo.sh build|test|bins" >&2
    exit 2
    ;;
esac
