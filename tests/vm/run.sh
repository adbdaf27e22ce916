#!/usr/bin/env bash
# Builds the boot-to-app VM and runs its scenarios under QEMU (TCG):
#   bash tests/vm/run.sh                 all of them
#   bash tests/vm/run.sh boot kill       only these (boot tampered untrusted kill cgroup)
# Screenshots, the serial log and the figures land in $WEFT_CACHE_DIR/vm/out.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cache=${WEFT_CACHE_DIR:-/var/cache/weft}
mapfile -t built < <(bash "$repo/tests/vm/build.sh")
out=$cache/vm/out
rm -rf "$out"
command -v python3 >/dev/null || {
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends python3 >/dev/null
}
timeout 1200 python3 "$repo/tests/vm/run.py" "${built[0]}" "${built[1]}" "$out" "$@"
