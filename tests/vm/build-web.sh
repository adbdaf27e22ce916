#!/usr/bin/env bash
# Builds the VM's web disk, $WEFT_CACHE_DIR/vm/web.erofs: a read-only EROFS
# image of what the web UI needs beyond the initramfs, which it would make too
# large to load. The guest mounts it at /usr/web and links its files into place
# (tests/vm/init, scenario `web`):
#   /usr/bin/weft-servo-shell, weft-app-shell   the optimized Servo shells
#   their libraries, Mesa's EGL and llvmpipe driver (software rendering)
#   /usr/share/weft/system-ui                   the system UI's pages
#   /etc/fonts, DejaVu                          the fonts the pages use
#   /etc/ssl/certs/ca-certificates.crt          which Servo's network layer loads
#   systemd-udevd, udevadm and the input rules  so libinput takes the VM's
#                                               tablet and keyboard
# Usage: build-web.sh SHELLS_DIR OUT_IMAGE
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
shells=$1
out=$2
tree=$(dirname "$out")/web-root
rm -rf "$tree"
mkdir -p "$tree"/{usr/bin,usr/share/weft,usr/share/fonts/truetype,usr/share/glvnd,etc,lib/udev/rules.d}

# Copies every library the files load to its own path in the tree.
libraries_of() {
  local library
  for library in $(for file in "$@"; do ldd "$file"; done | grep -o '/[^ ]*' | sort -u); do
    [[ -e $tree$library ]] && continue
    mkdir -p "$tree$(dirname "$library")"
    cp -L "$library" "$tree$library"
  done
}
# Copies files to their own path in the tree with every library they load.
with_libraries() {
  local file
  for file in "$@"; do
    mkdir -p "$tree$(dirname "$file")"
    cp -L "$file" "$tree$file"
  done
  libraries_of "$@"
}

cp "$shells"/weft-servo-shell "$shells"/weft-app-shell "$tree/usr/bin/"
libraries_of "$shells"/weft-servo-shell "$shells"/weft-app-shell
# surfman dlopens libEGL (glvnd), which loads Mesa's vendor library; Mesa's
# surfaceless platform renders with llvmpipe (swrast_dri.so).
lib=/usr/lib/x86_64-linux-gnu
with_libraries "$lib/libEGL.so.1" "$lib/libEGL_mesa.so.0" "$lib/dri/swrast_dri.so"
cp -r /usr/share/glvnd/egl_vendor.d "$tree/usr/share/glvnd/"
cp -r "$repo/rust/crates/weft-servo/system-ui" "$tree/usr/share/weft/system-ui"
cp -r /etc/fonts "$tree/etc/"
# Servo's network layer needs the system's certificate authorities to start.
mkdir -p "$tree/etc/ssl/certs"
cp -L /etc/ssl/certs/ca-certificates.crt "$tree/etc/ssl/certs/"
cp -r /usr/share/fonts/truetype/dejavu "$tree/usr/share/fonts/truetype/"
with_libraries /lib/systemd/systemd-udevd /usr/bin/udevadm
for rules in 50-udev-default 60-input-id 60-evdev 60-drm 70-mouse 80-libinput-device-groups 90-libinput-fuzz-override; do
  [[ -f /lib/udev/rules.d/$rules.rules ]] && cp "/lib/udev/rules.d/$rules.rules" "$tree/lib/udev/rules.d/"
done

rm -f "$out"
mkfs.erofs --quiet -T 0 --all-root "$out" "$tree"
rm -rf "$tree"
