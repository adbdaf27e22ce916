#!/usr/bin/env bash
# Checks the Nix layer without nixpkgs or a Nix store:
# - every .nix file parses (the Nix 2.26 of ../shared/nix-eval), is formatted
#   (nixfmt --check, from crates.io's nixfmt-rs, which formats like nixpkgs'
#   nixfmt) and has no dead code (deadnix --fail); statix is not on crates.io
#   (a different crate has its name), so `nix develop` has it and it does not
#   run here; flake.lock is valid JSON pinning nixpkgs;
# - every output of the flake evaluates with the real nixpkgs lib and module
#   system against ../shared/nix-eval's model of nixpkgs (eval.sh: every
#   nixosConfiguration, NixOS test, package on both systems, lib function),
#   and any failure fails this script;
# - the rendered units, /etc and kernel options of the desktop, kiosk and
#   headless systems are what WEFT needs (tests/nix-units.py check), and the
#   boot-to-app VM runs exactly the units' commands and settings
#   (tests/nix-units.py vm-check).
#
# Installs its tools first, idempotently: nix-eval's own Nix (downloaded from
# Debian's registry into /var/cache/nix-eval the first time), and nixfmt-rs
# and deadnix from crates.io into $WEFT_CACHE_DIR/tools (default
# /var/cache/weft/tools), so reruns take no time.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cache=${WEFT_CACHE_DIR:-/var/cache/weft}
tools=$cache/tools
nix_eval=$repo/../shared/nix-eval

ensure_tools() {
  if [[ ! -f $nix_eval/eval.sh ]]; then
    echo "check-nix.sh: $nix_eval is missing: the Nix checks evaluate the flake with it" >&2
    exit 1
  fi
  nix_bin=$(bash "$nix_eval/setup.sh")
  if [[ ! -x $tools/bin/nixfmt ]]; then
    echo "check-nix.sh: installing nixfmt-rs 0.5.3 into $tools" >&2
    cargo install --locked --root "$tools" nixfmt_rs@0.5.3
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
  if ! NIX_CONFIG=$parse_config "$nix_bin/nix-instantiate" --parse "$file" >/dev/null; then
    echo "check-nix.sh: $file does not parse" >&2
    failed=1
  fi
done
((failed == 0)) || exit 1

if ! "$tools/bin/nixfmt" --check "${files[@]}"; then
  echo "check-nix.sh: run '$tools/bin/nixfmt' on the files above" >&2
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

# Every output of the flake, evaluated; the systems' dumps for the tests below.
dump=$cache/nix-eval-out
if ! bash "$nix_eval/eval.sh" --samples tests/nix-eval-samples.nix --out "$dump" . >"$cache/nix-eval.txt"; then
  grep -v '^ok ' "$cache/nix-eval.txt" >&2
  echo "check-nix.sh: the flake does not evaluate (above; the full logs are in $dump/logs)" >&2
  exit 1
fi
grep -v '^ok ' "$cache/nix-eval.txt"
python3 tests/nix-units.py check "$dump"
python3 tests/nix-units.py vm-check "$dump"

echo "nix checks: ${#files[@]} files parse, formatted, no dead code; flake.lock pins nixpkgs; $(tail -1 "$cache/nix-eval.txt") in ../shared/nix-eval"
