#!/usr/bin/env bash
# Fuzzing every parser of untrusted input (rust/fuzz: cargo-fuzz and
# libFuzzer; stable Rust, so with libFuzzer's coverage but without a
# sanitizer: `-s none`).
#
#   bash tests/fuzz.sh gate [SECONDS]  replay the committed corpora, then run each
#                                      target for SECONDS (default 10): `make test`
#   bash tests/fuzz.sh run RUNS [TARGET...]
#                                      run each target (or those named) for RUNS
#                                      executions and print executions, seconds and
#                                      coverage per target
#
# A target fails on a panic or a broken property (each asserts what a parse
# must give, not only that it returns); the input that did it is kept under
# $WEFT_CACHE_DIR/fuzz-artifacts/<target>/. Copy it into
# rust/fuzz/corpus/<target>/ with the fix: the gate replays it from then on.
# The seeds and dictionaries are made by rust/fuzz/seeds.py.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
export WEFT_CACHE_DIR=${WEFT_CACHE_DIR:-/var/cache/weft}
export CARGO_TARGET_DIR=$WEFT_CACHE_DIR/fuzz-target
tools=$WEFT_CACHE_DIR/tools
fuzz=$repo/rust/fuzz
CARGO_FUZZ_VERSION=0.13.2

if [[ ! -x $tools/bin/cargo-fuzz ]]; then
  echo "installing cargo-fuzz $CARGO_FUZZ_VERSION into $tools"
  cargo install --quiet --locked --root "$tools" --version "$CARGO_FUZZ_VERSION" cargo-fuzz
fi
export PATH=$tools/bin:$PATH

cd "$fuzz"
cargo fuzz build --sanitizer none --release 2>&1 | grep -v '^\s*Compiling' || true
[[ ${PIPESTATUS[0]} == 0 ]] || { echo "FAILED: building the fuzz targets" >&2; exit 1; }
bins=$CARGO_TARGET_DIR/x86_64-unknown-linux-gnu/release
mapfile -t targets < <(cargo fuzz list)

# fuzz TARGET ARGS...: runs TARGET's binary on its growing corpus and its
# seeds; prints one line of figures; fails with the crashing input's path.
fuzz() {
  local target=$1 log work artifacts
  shift
  work=$WEFT_CACHE_DIR/fuzz-corpus/$target
  artifacts=$WEFT_CACHE_DIR/fuzz-artifacts/$target
  log=$WEFT_CACHE_DIR/fuzz-logs/$mode-$target.log
  mkdir -p "$work" "$artifacts" "$(dirname "$log")"
  if ! "$bins/$target" "$@" -dict="$fuzz/dict/$target.dict" -artifact_prefix="$artifacts/" \
    -print_final_stats=1 -close_fd_mask=3 "$work" "$fuzz/corpus/$target" >"$log" 2>&1; then
    echo "FAILED: fuzz target $target; its log: $log" >&2
    grep -aE 'panicked|assertion|ERROR|Test unit written' "$log" | head -10 >&2
    return 1
  fi
  local runs seconds cov features corpus
  runs=$(grep -a '^stat::number_of_executed_units:' "$log" | sed 's/.*: *//')
  seconds=$(grep -a '^Done [0-9]* runs in' "$log" | sed 's/^Done [0-9]* runs in \([0-9]*\) second.*/\1/')
  read -r cov features corpus < <(grep -aE '^#[0-9]+' "$log" | tail -1 |
    sed -E 's/.*cov: ([0-9]+) ft: ([0-9]+) corp: ([0-9]+).*/\1 \2 \3/')
  printf '%-18s %12s executions in %5s s, coverage %s edges, %s features, corpus %s\n' \
    "$target" "$runs" "${seconds:-?}" "${cov:-?}" "${features:-?}" "${corpus:-?}"
}

failed=0
mode=${1:-}
case $mode in
  gate)
    seconds=${2:-10}
    for target in "${targets[@]}"; do
      # The committed corpus (seeds and past crashes) exactly, then a bounded run.
      "$bins/$target" -runs=0 "$fuzz/corpus/$target" >/dev/null 2>&1 ||
        { echo "FAILED: $target on its committed corpus" >&2; failed=1; continue; }
      fuzz "$target" -max_total_time="$seconds" || failed=1
    done
    ;;
  run)
    runs=${2:?usage: bash tests/fuzz.sh run RUNS [TARGET...]}
    [[ $# -gt 2 ]] && targets=("${@:3}")
    for target in "${targets[@]}"; do
      fuzz "$target" -runs="$runs" || failed=1
    done
    ;;
  *)
    echo "usage: bash tests/fuzz.sh gate [SECONDS] | run RUNS [TARGET...]" >&2
    exit 2
    ;;
esac
exit "$failed"
