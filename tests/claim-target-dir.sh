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
#
# Every rebuild of a workspace crate leaves its old test binaries and
# incremental state behind (hundreds of MB each); those untouched for two days
# are removed so the shared directory stays bounded.
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
for profile in "$target"/debug "$target"/release; do
  [[ -d $profile/deps ]] || continue
  find "$profile/incremental" -mindepth 1 -maxdepth 1 -mtime +2 -exec rm -rf {} + 2>/dev/null || true
  # Test and bench executables: keep the newest of each name.
  find "$profile/deps" -maxdepth 1 -type f -executable ! -name '*.*' -printf '%T@ %f\n' |
    sort -rn | awk '{ name = $2; sub(/-[0-9a-f]+$/, "", name); if (seen[name]++) print $2 }' |
    while read -r stale; do rm -f "$profile/deps/$stale" "$profile/deps/$stale.d"; done
done
