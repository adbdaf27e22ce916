#!/usr/bin/env bash
# The web shells on Servo (rust/crates/weft-servo, its own workspace).
#
#   bash tests/servo.sh build   build them (`make servo`): cold, about 21
#                               minutes on 2 cores with the SpiderMonkey
#                               archive (about 6 more without); later builds reuse
#                               $WEFT_CACHE_DIR/servo-target and the archive
#                               in $WEFT_CACHE_DIR/mozjs
#   bash tests/servo.sh test    the Servo suite (`make test-servo`, and part of
#                               `make test`): only when that cached build is
#                               there; otherwise it says it was skipped and why
#   bash tests/servo.sh bins    prints the directory of the built shells
#   bash tests/servo.sh built   succeeds when a finished build is there
#
# Everything else in WEFT builds and tests without Servo.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
export WEFT_CACHE_DIR=${WEFT_CACHE_DIR:-/var/cache/weft}
workspace_target=${CARGO_TARGET_DIR:-$WEFT_CACHE_DIR/target}
servo_target=$WEFT_CACHE_DIR/servo-target
archive=$WEFT_CACHE_DIR/mozjs/libmozjs-x86_64-unknown-linux-gnu.tar.gz
manifest=$repo/rust/crates/weft-servo/Cargo.toml
# The Servo workspace's `optimized` profile (see its Cargo.toml): what the
# suite, the demo and the VM run. WEFT_SERVO_PROFILE=dev builds the debug one.
profile=${WEFT_SERVO_PROFILE:-optimized}
case $profile in
  dev) bins=$servo_target/debug ;;
  *) bins=$servo_target/$profile ;;
esac
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

# The Servo crates WEFT patches (rust/crates/weft-servo/patches/; each patch
# says why and what it measured): name, version, the published crate's
# crates.io sha256, and the patch. Each is downloaded once into the cache,
# checked against that checksum, unpacked into patched/<name> (which
# Cargo.toml's [patch.crates-io] builds) and patched; made again only when
# its patch changes.
PATCHED_CRATES=(
  "servo-paint 0.7.0 37fdc3732c1543c270e8387e1d44d2d7aff1894079463c3d4abcb909f0b344e7 servo-paint-rendering.patch"
  "servo-script 0.7.0 84ab625df5e83104d2b1ef7066f6fbc879d24be07c14438eb25f427657ed7fee servo-script-rendering-updates.patch"
  "servo-net 0.7.0 98af1ef87ba1355f3fae135c4b4ff26b52b75bf5eea1802751ecf3ba5ce65f15 servo-net-embedder-first.patch"
  "webrender 0.70.1 b90e7e9f5be8b8e81a292dc5617bcb06661f5b110891499ff793ca55e364e0ca webrender-changed-surfaces.patch"
)

patch_servo() {
  local entry
  for entry in "${PATCHED_CRATES[@]}"; do
    # shellcheck disable=SC2086 # the entry's four words are the arguments
    patch_crate $entry
  done
}

patch_crate() {
  local name=$1 version=$2 sha256=$3 patch=$repo/rust/crates/weft-servo/patches/$4
  local crate=$WEFT_CACHE_DIR/crates/$name-$version.crate
  local dir=$repo/rust/crates/weft-servo/patched/$name stamp
  if [[ ! -f $crate ]]; then
    mkdir -p "$(dirname "$crate")"
    curl -sSfL -o "$crate.part" "https://static.crates.io/crates/$name/$name-$version.crate"
    if [[ $(sha256sum <"$crate.part" | cut -d' ' -f1) != "$sha256" ]]; then
      echo "tests/servo.sh: $name-$version.crate from crates.io does not match its checksum" >&2
      rm -f "$crate.part"
      exit 1
    fi
    mv "$crate.part" "$crate"
  fi
  stamp="$sha256 $(sha256sum <"$patch" | cut -d' ' -f1)"
  if [[ -f $dir/.weft-patched && $(<"$dir/.weft-patched") == "$stamp" ]]; then
    return
  fi
  rm -rf "$dir"
  mkdir -p "$dir"
  tar -xzf "$crate" -C "$dir" --strip-components=1
  patch --quiet -p1 -d "$dir" <"$patch"
  echo "$stamp" >"$dir/.weft-patched"
}

install_build_tools() {
  local missing=()
  command -v clang-19 >/dev/null || missing+=(clang-19)
  [[ -d /usr/lib/llvm-19/lib ]] && ls /usr/lib/llvm-19/lib/libclang*.so* >/dev/null 2>&1 || missing+=(libclang-19-dev)
  pkg-config --exists fontconfig 2>/dev/null || missing+=(libfontconfig1-dev)
  command -v python3 >/dev/null || missing+=(python3)
  command -v curl >/dev/null || missing+=(curl)
  command -v patch >/dev/null || missing+=(patch)
  if ((${#missing[@]} > 0)); then
    echo "tests/servo.sh: installing ${missing[*]}" >&2
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  fi
}

# A cold build of the `optimized` profile, measured on this project's 2-core
# machine with the SpiderMonkey archive seeded (17 to 21 minutes), and what
# building SpiderMonkey from source adds to the first build without it (a
# fresh `make demo` built everything in 23 minutes: SpiderMonkey's C++ builds
# beside the Rust crates).
COLD_BUILD_MINUTES=21
SPIDERMONKEY_MINUTES=6

build() {
  install_build_tools
  patch_servo
  servo_env
  local started=$SECONDS
  if [[ -x $bins/weft-app-shell ]]; then
    nice -n 10 cargo build --locked --manifest-path "$manifest" --profile "$profile" --bins
  else
    cold_build
  fi
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

# A first build, in the background, with a progress line every 30 seconds:
# crates compiled of all, minutes spent and an estimate of those left.
cold_build() {
  local log=$WEFT_CACHE_DIR/servo-build.log total done elapsed left cargo_pid
  total=$(cargo tree --locked --manifest-path "$manifest" -e normal,build --prefix none \
    --format '{p}' --target x86_64-unknown-linux-gnu 2>/dev/null | sed 's/ (\*)$//' | sort -u | wc -l)
  local estimate=$((COLD_BUILD_MINUTES * 2 / $(nproc)))
  local extra=""
  if [[ ! -f $archive ]]; then
    estimate=$((estimate + SPIDERMONKEY_MINUTES))
    extra=", plus about $SPIDERMONKEY_MINUTES min for SpiderMonkey from source"
  fi
  echo "tests/servo.sh: building Servo and the shells: about $estimate min on $(nproc) cores" \
    "(it took $COLD_BUILD_MINUTES min on 2 cores here$extra); log: $log"
  mkdir -p "$WEFT_CACHE_DIR"
  nice -n 10 cargo build --locked --manifest-path "$manifest" --profile "$profile" --bins \
    >"$log" 2>&1 &
  cargo_pid=$!
  local begun=$SECONDS
  while kill -0 "$cargo_pid" 2>/dev/null; do
    sleep 30
    done=$(grep -c '^ *Compiling ' "$log" || true)
    elapsed=$(((SECONDS - begun) / 60))
    left=$((estimate - elapsed))
    if ((left > 0)); then
      left="about $left min left"
    else
      left="longer than the estimate; the last crates (servo-script, layout) are the slowest"
    fi
    echo "tests/servo.sh: $done of about $total crates compiled, $elapsed min in, $left"
  done
  if ! wait "$cargo_pid"; then
    tail -40 "$log" >&2
    echo "tests/servo.sh: the Servo build failed; its log: $log" >&2
    exit 1
  fi
}

# Whether a finished `make servo` is there: both shells and the archive.
finished() {
  [[ -f $archive && -x $bins/weft-app-shell && -x $bins/weft-servo-shell ]]
}

case $mode in
  built)
    finished
    ;;
  build)
    build
    ;;
  bins)
    echo "$bins"
    ;;
  test)
    if [[ -x $bins/weft-app-shell && ! -f $archive ]]; then
      # `make servo` succeeded, yet the suite would be skipped: never silently.
      echo "FAILED: the shells are built in $servo_target but the SpiderMonkey archive" \
        "$archive is missing; run 'make servo' again to keep it" >&2
      exit 1
    fi
    # Only a finished `make servo` (both shells, the archive) runs the suite: a
    # seeded archive or a cut-off build must not start a cold Servo build here.
    if ! finished; then
      echo "SKIPPED: the Servo suite: there is no cached Servo build ($servo_target with the" \
        "SpiderMonkey archive $archive). A cold build takes about $COLD_BUILD_MINUTES minutes on 2 cores; run" \
        "'make servo' once to make it, then 'make test' runs this suite too."
      exit 0
    fi
    build
    servo_env
    step() { printf '\n== %s\n' "$*"; }
    step "servo: formatting and clippy (warnings are errors)"
    cargo fmt --manifest-path "$manifest" --check
    cargo clippy --quiet --locked --manifest-path "$manifest" --profile "$profile" --all-targets -- -D warnings
    step "servo: the shells' own tests (the sandbox, in a child process)"
    cargo test --quiet --locked --manifest-path "$manifest" --profile "$profile" --lib
    step "servo: the shells on the compositor under weft-appd"
    export CARGO_TARGET_DIR=$workspace_target
    export WEFT_SERVO_BIN_DIR=$bins WEFT_SERVO_OUT=$WEFT_CACHE_DIR/servo-out
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
