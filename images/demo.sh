#!/usr/bin/env bash
# The main job on embedded defaults (`make demo`): builds the example app, signs
# it with a demo key, builds its EROFS + dm-verity image, verifies both, installs
# the package into a demo store (compiling it ahead of time), then starts the
# session supervisor and, when the Servo shells are built, the system UI
# (weft-servo-shell); launches the app in its sandboxed runtime, with its web UI
# in weft-app-shell, and talks to it as its UI would (weftctl); the screen is
# saved as $WEFT_CACHE_DIR/demo/screen.png. Last, it boots the whole system in a
# VM (QEMU, TCG): weft-compositor on DRM/KMS, weft-appd, and the app launched
# from its signed image through weft-mount-helper and dm-verity; the VM's
# screen is saved as $WEFT_CACHE_DIR/vm/out/hello.png.
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
cargo build --quiet --locked --manifest-path rust/Cargo.toml -p weft-pack -p weft-runtime -p weft-appd -p weftctl -p weft-file-portal -p weft-compositor
weft_pack=$CARGO_TARGET_DIR/debug/weft-pack

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

# The web shells (weft-servo-shell, weft-app-shell) run on Servo. A machine
# without their build makes it now (`make servo`: about 21 minutes cold on 2
# cores, cached after), printing its progress; WEFT_DEMO_STANDIN=1 skips it and
# runs a stock Wayland client in place of the app's web UI, with no system UI.
servo_bins=$(bash tests/servo.sh bins)
if [[ ${WEFT_DEMO_STANDIN:-} == 1 ]]; then
  echo "demo: WEFT_DEMO_STANDIN=1: a stock Wayland client stands in for hello's web UI," \
    "and there is no system UI"
  servo_bins=""
  printf '#!/bin/sh\nexec weston-simple-shm >/dev/null 2>&1\n' >"$demo/app-shell"
  chmod 755 "$demo/app-shell"
  app_shell=$demo/app-shell
else
  if bash tests/servo.sh built; then
    step "building the Servo web shells (cached)"
    bash tests/servo.sh build | tail -1
  else
    step "building the Servo web shells (make servo), once"
    bash tests/servo.sh build
  fi
  app_shell=$servo_bins/weft-app-shell
fi

step "starting the compositor (headless) and the session supervisor (weft-appd)"
export XDG_RUNTIME_DIR=$demo/run
rm -rf "$XDG_RUNTIME_DIR" && mkdir -p "$XDG_RUNTIME_DIR" && chmod 700 "$XDG_RUNTIME_DIR"
weftctl() { "$CARGO_TARGET_DIR/debug/weftctl" "$@"; }
compositor=$CARGO_TARGET_DIR/debug/weft-compositor
"$compositor" --size 1024x640 --socket wayland-demo --socket-app-id system 2>"$demo/compositor.log" &
pids=($!)
trap 'kill "${pids[@]}" 2>/dev/null || true; wait 2>/dev/null || true' EXIT
for _ in $(seq 200); do [[ -S $XDG_RUNTIME_DIR/weft/compositor.sock ]] && break; sleep 0.05; done
WEFT_APPD_WS_PORT=0 WEFT_APP_SHELL_BIN=$app_shell \
  WEFT_COMPOSITOR_SOCKET=$XDG_RUNTIME_DIR/weft/compositor.sock \
  "$CARGO_TARGET_DIR/debug/weft-appd" 2>"$demo/appd.log" &
pids+=($!)
for _ in $(seq 200); do [[ -S $XDG_RUNTIME_DIR/weft/appd.sock ]] && break; sleep 0.05; done
if [[ -n $servo_bins ]]; then
  step "starting the system UI (weft-servo-shell): the panel with the launcher"
  WAYLAND_DISPLAY=wayland-demo "$servo_bins/weft-servo-shell" --ui-dir "$repo/rust/crates/weft-servo/system-ui" \
    2>"$demo/system-ui.log" &
  pids+=($!)
fi
step "launching org.weft.hello"
weftctl installed
started=$(date +%s%N)
weftctl launch org.weft.hello
echo "LAUNCH_APP to READY took $(( ($(date +%s%N) - started) / 1000000 )) ms (debug build)"
# The app's UI shell starts after READY (its log goes to weft-appd's): wait
# until it has drawn its page.
if [[ -n $servo_bins ]]; then
  for _ in $(seq 600); do
    grep -q "first frame of the loaded page" "$demo/appd.log" && break
    sleep 0.1
  done
  echo "hello's page was on screen $(( ($(date +%s%N) - started) / 1000000 )) ms after LAUNCH_APP"
else
  sleep 0.5
fi
step "saying WEFT to it as its UI would"
printf 'the app answered: '
weftctl send 1 WEFT
sleep "$([[ -n $servo_bins ]] && echo 1 || echo 0.5)"
if [[ -n $servo_bins ]]; then
  printf "the screen (the system UI panel above hello's page, which shows the answer): "
else
  printf 'the screen (a stock Wayland client standing in for the page; no system UI): '
fi
"$compositor" screenshot "$demo/screen.png"
weftctl ps
step "the session's output (weftctl logs 1)"
weftctl logs 1

kill "${pids[@]}" 2>/dev/null || true
if [[ -n $servo_bins ]]; then
  step "booting WEFT in a VM: DRM/KMS compositor, appd, the system UI, hello from its dm-verity image with its page"
  bash tests/vm/run.sh web | grep -v '^  guest| \['
  echo "the VM's screen with the system UI panel and hello's page: $WEFT_CACHE_DIR/vm/out/web-hello.png"
else
  step "booting WEFT in a VM: DRM/KMS compositor, appd, the app from its dm-verity image"
  bash tests/vm/run.sh boot | grep -v '^  guest| \['
  echo "the VM's screen with the stand-in client's window: $WEFT_CACHE_DIR/vm/out/hello.png"
fi
