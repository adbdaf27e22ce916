#!/usr/bin/env bash
# The whole test suite, as `make test` and CI run it: builds the example apps
# (installing the guest toolchain when missing), checks the Nix files, then
# formats, lints and tests the Rust workspace. Warnings fail the run.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
export WEFT_CACHE_DIR=${WEFT_CACHE_DIR:-/var/cache/weft}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$WEFT_CACHE_DIR/target}
cd "$repo"

step() { printf '\n== %s\n' "$*"; }

step "apps: build every app into a component"
bash apps/build.sh

step "nix: parse, format and lint every .nix file"
bash tests/check-nix.sh

cd rust
step "rust: formatting"
cargo fmt --all --check

step "rust: clippy (warnings are errors)"
cargo clippy --quiet --locked --workspace --all-targets -- -D warnings

step "rust: tests"
cargo test --locked --workspace
