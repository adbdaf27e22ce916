#!/usr/bin/env bash
# Installs, when missing, the Debian tools the host side of WEFT calls:
# mkfs.erofs (erofs-utils) and veritysetup (cryptsetup-bin) for app images, and
# what the compositor links (pixman, xkbcommon, libwayland-server; libudev,
# libinput and libseat for DRM/KMS; all through pkg-config) and its
# tests run (weston's and foot's clients, the xkb keymaps, a font for foot,
# Mesa's software GLES for the winit backend), and Chromium for the pages.
set -euo pipefail

missing=()
command -v mkfs.erofs >/dev/null || missing+=(erofs-utils)
command -v veritysetup >/dev/null || [[ -x /usr/sbin/veritysetup ]] || missing+=(cryptsetup-bin)
pkg-config --exists pixman-1 xkbcommon 2>/dev/null || missing+=(pkg-config libpixman-1-dev libxkbcommon-dev)
pkg-config --exists libudev libinput libseat 2>/dev/null || missing+=(pkg-config libudev-dev libinput-dev libseat-dev)
# Its Wayland wire is libwayland-server's (it bounds what one client sends).
pkg-config --exists wayland-server 2>/dev/null || missing+=(pkg-config libwayland-dev)
[[ -d /usr/share/X11/xkb ]] || missing+=(xkb-data)
command -v weston-simple-shm >/dev/null || missing+=(weston)
command -v foot >/dev/null || missing+=(foot fonts-dejavu-core)
command -v wayland-info >/dev/null || missing+=(wayland-utils)
# The shells' pages are tested in a real browser engine: headless Chromium.
command -v chromium >/dev/null || missing+=(chromium)
# The winit backend's GLES (dlopened): Mesa's EGL with llvmpipe, libwayland-egl.
[[ -e /usr/lib/x86_64-linux-gnu/libEGL_mesa.so.0 || -e /usr/lib/aarch64-linux-gnu/libEGL_mesa.so.0 ]] ||
  missing+=(libegl1 libegl-mesa0 libgl1-mesa-dri libwayland-egl1 libwayland-client0)
if ((${#missing[@]} > 0)); then
  echo "install-host-tools.sh: installing ${missing[*]}" >&2
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
