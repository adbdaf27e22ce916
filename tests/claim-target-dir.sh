#!/usr/bin/env bash
# Usage: claim-target-dir.sh <cargo target dir> <Cargo.toml of a workspace>
#
# Target directories live outside the clone and are shared by every checkout on
# the machine, so that dependencies (wasmtime, std for wasm32-wasip2, ...) build
# once. Cargo gives a workspace's own crates the same fingerprints in every
# checkout, though, and judges their freshness by another checkout's files: a
# build could silently reuse what a different clone compiled. So when a target
# directory was last used by another checkout, this forgets the fingerprints of
# the workspace's own packages (they rebuild in seconds) and keeps the rest.
set -euo pipefail

target=$1
manifest=$2
workspace=$(cd "$(dirname "$manifest")" && pwd)
marker=$target/.weft-last-checkout
mkdir -p "$target"
if [[ $(cat "$marker" 2>/dev/null) != "$workspace" ]]; then
  cargo=$(command -v cargo)
  [[ $manifest == */apps/Cargo.toml ]] && cargo=/usr/bin/cargo
  members=$("$cargo" metadata --quiet --no-deps --format-version 1 --manifest-path "$manifest" |
    python3 -c 'import json, sys; print("\n".join(p["name"] for p in json.load(sys.stdin)["packages"]))')
  for name in $members; do
    find "$target" -maxdepth 4 -type d -path "*/.fingerprint/$name-*" -prune -exec rm -rf {} +
  done
  echo "$workspace" >"$marker"
fi
