#!/usr/bin/env bash
# Checks every .nix file in the repository without needing nixpkgs or a Nix store:
# each parses (nix-instantiate --parse), all are formatted (nixfmt --check, from
# crates.io's nixfmt-rs, which formats like nixpkgs' nixfmt-rfc-style) and none
# has dead code (deadnix --fail). statix is not on crates.io (a different crate
# has its name), so `nix develop` has it and it does not run here. Also checks
# that flake.lock is valid JSON pinning nixpkgs, and evaluates the module's
# plain-data parts to check that the systemd units and weft-appd settings the
# NixOS module renders for the default profile match what the boot-to-app VM
# (tests/vm/init, tests/vm/appd.toml) runs.
#
# Installs its tools first, idempotently: Debian's nix-bin for the parser, and
# nixfmt-rs and deadnix from crates.io into $WEFT_CACHE_DIR/tools (default
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
  if ! NIX_CONFIG=$parse_config nix-instantiate --parse "$file" >/dev/null; then
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

# The module's units and settings for the default profile, against the VM.
eval_json() { NIX_CONFIG=$parse_config nix-instantiate --eval --strict --json -E "$1"; }
units=$(eval_json 'import ./modules/weft/units.nix {
  package = "/PKG"; configFile = "/etc/weft/appd.toml"; user = "weft"; uid = 1000; }')
# As the module passes them: every setting at its default, unset ones null.
settings=$(eval_json 'let
  defaults = builtins.mapAttrs (_: spec: if spec ? type then spec.default else defaults spec);
in import ./modules/weft/appd-config.nix {
  settings = defaults (import ./modules/weft/settings.nix);
  uid = 1000; mountHelper = "/run/wrappers/bin/weft-mount-helper"; appShell = "/APP-SHELL"; }')
defaults=$(eval_json 'import ./modules/weft/settings.nix')
python3 - "$units" "$settings" "$defaults" tests/vm/init tests/vm/appd.toml <<'PY'
import json
import sys
import tomllib

units, settings, table = (json.loads(arg) for arg in sys.argv[1:4])
init = open(sys.argv[4], encoding="utf-8").read()
with open(sys.argv[5], "rb") as f:
    vm_settings = tomllib.load(f)
problems = []

def check(condition, message):
    if not condition:
        problems.append(message)

# The same programs with the same arguments as the VM's /init.
for unit, command in [
    ("weft-compositor", "weft-compositor --backend drm"),
    ("weft-appd", "weft-appd --config /etc/weft/appd.toml"),
]:
    service = units[unit]["serviceConfig"]
    check(service["ExecStart"] == "/PKG/bin/" + command, f"{unit}: ExecStart {service['ExecStart']!r}")
    check(command in init, f"tests/vm/init does not run {command!r}")
    check(service["Type"] == "notify", f"{unit}: not Type=notify")
    for key, value in [("ProtectSystem", "strict"), ("PrivateTmp", True), ("ProtectKernelModules", True)]:
        check(service.get(key) == value, f"{unit}: {key} is {service.get(key)!r}, not {value!r}")
    check(service.get("RestrictAddressFamilies"), f"{unit}: no RestrictAddressFamilies")
    check(service.get("SystemCallFilter"), f"{unit}: no SystemCallFilter")
appd = units["weft-appd"]["serviceConfig"]
check(appd.get("Delegate") is True, "weft-appd: no Delegate=yes")
check("/sys/fs/cgroup/weft-" in init and "cgroup.procs" in init, "the VM does not give appd its own cgroup")
check("@mount" in appd["SystemCallFilter"], "weft-appd's filter would stop the mount helper")
check(units["weft-compositor"]["serviceConfig"].get("NoNewPrivileges") is True, "compositor: NoNewPrivileges")

# weft-appd's effective settings: the defaults under what each system fixes.
def defaults(spec):
    return {key: (value["default"] if "type" in value else defaults(value)) for key, value in spec.items()}

def effective(fixed):
    merged = defaults(table)
    for key, value in fixed.items():
        if isinstance(value, dict):
            merged[key] = {**merged[key], **value}
        else:
            merged[key] = value
    return merged

# Where the two systems put the same things.
same_place = {
    "/run/wrappers/bin/weft-mount-helper": "/usr/bin/weft-mount-helper",
    "/APP-SHELL": "/usr/bin/app-shell",
    "/run/user/1000/weft/compositor.sock": "/run/user/0/weft/compositor.sock",
}
nixos = {key: same_place.get(value, value) if isinstance(value, str) else value for key, value in effective(settings).items()}
vm = effective(vm_settings)
for key in sorted(set(nixos) | set(vm)):
    check(nixos.get(key) == vm.get(key), f"settings {key}: NixOS {nixos.get(key)!r}, VM {vm.get(key)!r}")

if problems:
    sys.exit("check-nix.sh: the NixOS module and the VM differ:\n  " + "\n  ".join(problems))
PY

echo "nix checks: ${#files[@]} files parse, formatted, no dead code; flake.lock pins nixpkgs; units and settings match the VM"
