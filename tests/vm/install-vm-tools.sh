#!/usr/bin/env bash
# Installs, when missing, what the boot-to-app VM needs from Debian: QEMU, a
# kernel with its modules, busybox, cpio, kmod, strip and python3 (see
# ../shared/docs/IMAGES-AND-VM.md). QEMU comes from bookworm-backports when
# the machine already has backports' qemu-utils (the two must match).
set -euo pipefail

missing=()
command -v qemu-system-x86_64 >/dev/null || missing+=(qemu-system-x86)
compgen -G '/boot/vmlinuz-*' >/dev/null || missing+=(linux-image-amd64)
# A static busybox: the initramfs has no libraries for it.
[[ -x /bin/busybox ]] && ! ldd /bin/busybox >/dev/null 2>&1 || missing+=(busybox-static)
command -v cpio >/dev/null || missing+=(cpio)
command -v depmod >/dev/null || [[ -x /usr/sbin/depmod ]] || missing+=(kmod)
command -v strip >/dev/null || missing+=(binutils)
command -v python3 >/dev/null || missing+=(python3)
((${#missing[@]} > 0)) || exit 0
echo "install-vm-tools.sh: installing ${missing[*]}" >&2
apt-get update -qq
install() { DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null; }
if [[ " ${missing[*]} " == *" qemu-system-x86 "* ]] && ! install "${missing[@]}" 2>/dev/null; then
  install -t bookworm-backports qemu-system-x86
  rest=()
  for package in "${missing[@]}"; do [[ $package == qemu-system-x86 ]] || rest+=("$package"); done
  ((${#rest[@]} == 0)) || install "${rest[@]}"
else
  install "${missing[@]}"
fi
