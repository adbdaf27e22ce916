#!/usr/bin/env bash
# Checks every .nix file in the repository without needing nixpkgs or a Nix store:
# each parses (nix-instantiate --parse), all are formatted (nixpkgs-fmt --check; see the
# formatter comment in flake.nix for why not nixfmt) and none has dead code
# (deadnix --fail). Also checks that flake.lock is valid JSON pinning nixpkgs.
#
# Installs its tools first, idempotently: Debian's nix-bin for the parser, and
# nixpkgs-fmt and deadnix from crates.io into $WEFT_CACHE_DIR/tools (default
# /var/cache/weft/tools), so reruns take no time.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cache=${WEFT_CACHE_DIR:-/var/cache/weft}
tools=$cache/tools

ensure_tools() {
  if ! command -v nix-instantiate >/dev/null; then
    echo "check-nix.sh: installing nix-bin (for nix-instantiate --parse)" >&2
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends nix-bin
  fi
  if [[ ! -x $tools/bin/nixpkgs-fmt ]]; then
    echo "check-nix.sh: installing nixpkgs-fmt 1.3.0 into $tools" >&2
    cargo install --locked --root "$tools" nixpkgs-fmt@1.3.0
  fi
  if [[ ! -x $tools/bin/deadnix ]]; then
    echo "check-nix.sh: installing deadnix 1.3.1 into $tools" >&2
    cargo install --locked --root "$tools" deadnix@1.3.1
  fi
}

ensure_tools
cd "$repo"

files=()
while IFS= read -r -d '' file; do
  # Listed but deleted from the work tree: nothing to check.
  [[ -e $file ]] && files+=("$file")
done < <(git ls-files -z --cached --others --exclude-standard -- '*.nix')

if ((${#files[@]} == 0)); then
  echo "check-nix.sh: no .nix files found under $repo" >&2
  exit 1
fi

# Parsing needs no builds; without this, Debian's default nix.conf makes every call warn
# that the nixbld group does not exist.
parse_config="build-users-group =${NIX_CONFIG:+$'\n'$NIX_CONFIG}"

failed=0
for file in "${files[@]}"; do
  if ! NIX_CONFIG=$parse_config nix-instantiate --parse "$file" >/dev/null; then
    echo "check-nix.sh: $file does not parse" >&2
    failed=1
  fi
done
((failed == 0)) || exit 1

if ! "$tools/bin/nixpkgs-fmt" --check "${files[@]}"; then
  echo "check-nix.sh: run '$tools/bin/nixpkgs-fmt' on the files above" >&2
  exit 1
fi

if ! "$tools/bin/deadnix" --fail "${files[@]}"; then
  echo "check-nix.sh: deadnix found unused bindings (above)" >&2
  exit 1
fi

python3 - flake.lock <<'PY'
import json
import sys

path = sys.argv[1]
try:
    with open(path, encoding="utf-8") as f:
        lock = json.load(f)
except (OSError, ValueError) as err:
    sys.exit(f"check-nix.sh: {path} is not valid JSON: {err}")

locked = lock.get("nodes", {}).get("nixpkgs", {}).get("locked", {})
missing = [key for key in ("rev", "narHash") if not locked.get(key)]
if missing:
    sys.exit(f"check-nix.sh: {path}: nodes.nixpkgs.locked lacks {', '.join(missing)}")
PY

echo "nix checks: ${#files[@]} files parse, formatted, no dead code; flake.lock pins nixpkgs"
