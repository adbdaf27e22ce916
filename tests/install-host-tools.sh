#!/usr/bin/env bash
# Installs, when missing, the Debian tools the host side of WEFT calls:
# mkfs.erofs (erofs-utils) and veritysetup (cryptsetup-bin) for app images.
set -euo pipefail

missing=()
command -v mkfs.erofs >/dev/null || missing+=(erofs-utils)
command -v veritysetup >/dev/null || [[ -x /usr/sbin/veritysetup ]] || missing+=(cryptsetup-bin)
if ((${#missing[@]} > 0)); then
  echo "install-host-tools.sh: installing ${missing[*]}" >&2
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
