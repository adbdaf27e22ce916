#!/usr/bin/env bash
# The main job on embedded defaults (`make demo`): builds the example app, signs
# it with a demo key, builds its EROFS + dm-verity image, verifies both, installs
# the package into a demo store (compiling it ahead of time), then launches it in
# the sandboxed runtime and talks to it as its UI would.
#
# Everything it makes lives under $WEFT_CACHE_DIR/demo (default
# /var/cache/weft/demo); the demo key is made once and reused.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
export WEFT_CACHE_DIR=${WEFT_CACHE_DIR:-/var/cache/weft}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$WEFT_CACHE_DIR/target}
demo=$WEFT_CACHE_DIR/demo
cd "$repo"

step() { printf '\n== %s\n' "$*"; }

bash tests/install-host-tools.sh
bash apps/build.sh
bash tests/claim-target-dir.sh "$CARGO_TARGET_DIR" "$repo/rust/Cargo.toml"
cargo build --quiet --locked --manifest-path rust/Cargo.toml -p weft-pack -p weft-runtime
weft_pack=$CARGO_TARGET_DIR/debug/weft-pack
weft_runtime=$CARGO_TARGET_DIR/debug/weft-runtime

mkdir -p "$demo/trusted"
if [[ ! -f $demo/demo.key ]]; then
  step "generating the demo signing key"
  "$weft_pack" generate-key "$demo/demo.key" --public "$demo/trusted/demo.pub"
fi
export WEFT_TRUSTED_KEYS=$demo/trusted
export WEFT_APP_STORE=$demo/store
export WEFT_AOT_DIR=$demo/aot

step "checking the hello package"
rm -rf "$demo/hello"
cp -R build/apps/hello "$demo/hello"
"$weft_pack" check "$demo/hello"

step "signing it"
"$weft_pack" sign --key "$demo/demo.key" "$demo/hello"

step "building its EROFS + dm-verity image"
"$weft_pack" build-image --key "$demo/demo.key" --out "$demo/images" "$demo/hello"

step "verifying the image without mounting it"
"$weft_pack" verify "$demo/images/org.weft.hello-0.1.0.wimg"

step "installing the package into $WEFT_APP_STORE"
"$weft_pack" install --replace "$demo/hello"
"$weft_pack" list

step "launching org.weft.hello in the sandboxed runtime and saying hello as its UI"
# Until the session supervisor exists, this script plays the supervisor's part
# of the session channel (docs/protocol.md): one JSON message per line.
python3 - "$weft_runtime" "$WEFT_APP_STORE/org.weft.hello" "$WEFT_AOT_DIR" "$demo/session.sock" <<'PY'
import json, os, socket, subprocess, sys, time
runtime, package, aot, path = sys.argv[1:5]
if os.path.exists(path):
    os.unlink(path)
listener = socket.socket(socket.AF_UNIX)
listener.bind(path)
listener.listen(1)
started = time.monotonic()
app = subprocess.Popen([runtime, "--package", package, "--aot-dir", aot, "--session-socket", path],
                       stdout=subprocess.PIPE, text=True)
session, _ = listener.accept()
ready = app.stdout.readline().strip()
print(f"runtime said {ready!r} after {1000 * (time.monotonic() - started):.1f} ms")
session.sendall(json.dumps({"type": "ipc", "message": "WEFT"}).encode() + b"\n")
reply = json.loads(session.makefile().readline())
print(f"the UI sent 'WEFT'; the app answered {reply['message']!r}")
session.close()
print(f"the session ended with status {app.wait(timeout=10)}")
PY
