#!/usr/bin/env bash
# Builds the boot-to-app VM and runs its scenarios under QEMU (TCG):
#   bash tests/vm/run.sh                 all of them
#   bash tests/vm/run.sh boot kill       only these (boot tampered untrusted kill cgroup cpu user web)
# Scenario `web` needs the Servo shells (make servo); without them it is
# skipped, saying so, and `boot` shows a stock Wayland client standing in.
# Screenshots, the serial log and the figures land in $WEFT_CACHE_DIR/vm/out.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cache=${WEFT_CACHE_DIR:-/var/cache/weft}
# build.sh ends by printing the kernel's, the initramfs's and the web disk's paths.
built=$(bash "$repo/tests/vm/build.sh")
kernel=$(tail -n 3 <<<"$built" | sed -n 1p)
initramfs=$(tail -n 2 <<<"$built" | sed -n 1p)
web=$(tail -n 1 <<<"$built")
out=$cache/vm/out
rm -rf "$out"
timeout 1500 python3 "$repo/tests/vm/run.py" "$kernel" "$initramfs" "$web" "$out" "$@"
