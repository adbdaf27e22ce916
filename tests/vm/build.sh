#!/usr/bin/env bash
# Builds the boot-to-app VM into $WEFT_CACHE_DIR/vm (default /var/cache/weft/vm):
# an initramfs with busybox, the release WEFT binaries and the libraries they
# link, veritysetup, the kernel modules for virtio, loop, dm-verity, EROFS and
# virtio-gpu, the xkb keymaps, a trusted key, and signed app images:
#   org.weft.hello, org.weft.clock  good, signed by the trusted key
#   org.weft.notes  one data byte flipped after signing (tampered)
#   org.weft.fetch  signed by a key the VM does not trust
#   org.weft.test.memory-bomb  good; allocates until something stops it
#   org.weft.test.infinite-loop  good; spins, declaring limits.cpu = "10%"
# When the Servo shells are built (make servo), also the web disk
# (build-web.sh): the optimized shells, Mesa and fonts for scenario `web`.
# Installs what it needs from Debian first (QEMU, a kernel, busybox). Prints
# the paths of the kernel, the initramfs and the web disk (`-` without one).
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cache=${WEFT_CACHE_DIR:-/var/cache/weft}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$cache/target}
vm=$cache/vm
cd "$repo"

bash tests/vm/install-vm-tools.sh
bash tests/install-host-tools.sh
bash apps/build.sh >&2
bash tests/claim-target-dir.sh "$CARGO_TARGET_DIR" "$repo/rust/Cargo.toml"
cargo build --quiet --release --locked --manifest-path rust/Cargo.toml \
  -p weft-compositor -p weft-appd -p weftctl -p weft-file-portal -p weft-mount-helper -p weft-pack
# The runtime on its own: built together with weft-pack, Cargo would give it
# the installer's compiler (features unify within one build).
cargo build --quiet --release --locked --manifest-path rust/Cargo.toml -p weft-runtime
release=$CARGO_TARGET_DIR/release
kernel_version=$(find /lib/modules -mindepth 1 -maxdepth 1 -printf '%f\n' | sort -V | tail -1)
kernel=/boot/vmlinuz-$kernel_version

root=$vm/root
rm -rf "$root"
mkdir -p "$root"/{bin,sbin,usr/bin,usr/sbin,usr/share/X11,etc/weft/trusted-keys,proc,sys,dev,run,tmp,root,var/lib/weft/images}

# Copies a library to the same path in the image.
install_library() {
  mkdir -p "$root$(dirname "$1")"
  cp -Ln "$1" "$root$1"
}

# Copies executables into /usr/bin with every library they load.
install_binaries() {
  local binary library
  for binary in "$@"; do
    cp -L "$binary" "$root/usr/bin/"
    strip --strip-debug "$root/usr/bin/$(basename "$binary")"
    for library in $(ldd "$binary" | grep -o '/[^ ]*'); do
      install_library "$library"
    done
  done
}

# Copies a library a binary loads with dlopen (ldd does not list those).
install_dlopened() {
  local library
  # awk reads to the end: leaving early could end ldconfig with SIGPIPE, which
  # pipefail turns into this script's failure (it did, once, in CI).
  library=$(ldconfig -p | awk -v name="$1" '$1 == name && !found { print $NF; found = 1 }')
  [[ -n $library ]] || { echo "build.sh: $1 is not installed" >&2; exit 1; }
  install_library "$library"
}

cp /bin/busybox "$root/bin/busybox"
for applet in $(/bin/busybox --list); do
  [[ -e $root/bin/$applet ]] || ln -s busybox "$root/bin/$applet"
done
install_binaries "$release"/{weft-compositor,weft-appd,weftctl,weft-runtime,weft-pack,weft-file-portal,weft-mount-helper} \
  /usr/sbin/veritysetup "$(command -v weston-simple-shm)"
mkdir -p "$root/usr/sbin" && mv "$root/usr/bin/veritysetup" "$root/usr/sbin/veritysetup"
# weft-compositor's Wayland wire is libwayland-server, which wayland-sys loads
# with dlopen (its `dlopen` feature, turned on by winit's).
install_dlopened libwayland-server.so.0
cp -r /usr/share/X11/xkb "$root/usr/share/X11/"
[[ -d /usr/share/libinput ]] && mkdir -p "$root/usr/share" && cp -r /usr/share/libinput "$root/usr/share/"
# The app shell path of the units (VM_PLACES in tests/nix-units.py): a stock
# Wayland client stands in; scenario `web` points it at weft-app-shell.
printf '#!/bin/sh\nexec weston-simple-shm 2>>/tmp/app-shell.log\n' >"$root/usr/bin/app-shell"
chmod 755 "$root/usr/bin/app-shell"
install -m 755 tests/vm/init "$root/init"
# What the NixOS units run, generated from them (tests/nix-units.py vm).
install -m 644 tests/vm/appd.toml "$root/etc/weft/appd.toml"
install -m 644 tests/vm/services.sh "$root/etc/weft/services.sh"

# Kernel modules and what they depend on, with a modules.dep for busybox modprobe.
for module in crc32c_generic virtio_pci loop dm_mod dm_verity erofs virtio_gpu virtio_input virtio_blk evdev; do
  modprobe -S "$kernel_version" --show-depends "$module" | awk '$1 == "insmod" { print $2 }'
done | sort -u | while read -r path; do
  mkdir -p "$root$(dirname "$path")"
  cp "$path" "$root$path"
done
cp /lib/modules/"$kernel_version"/modules.{order,builtin,builtin.modinfo} "$root/lib/modules/$kernel_version/"
depmod -b "$root" "$kernel_version"

# Keys (kept between builds) and the signed images.
keys=$vm/keys
mkdir -p "$keys"
weft_pack=$release/weft-pack
for name in system stranger; do
  [[ -f $keys/$name.key ]] || "$weft_pack" generate-key "$keys/$name.key" --public "$keys/$name.pub" >/dev/null
done
cp "$keys/system.pub" "$root/etc/weft/trusted-keys/system.pub"
stage=$vm/stage
rm -rf "$stage"
image() { # app key [id]
  rm -rf "$stage/$1"
  mkdir -p "$stage"
  cp -R "build/apps/$1" "$stage/$1"
  rm -f "$stage/$1/wapp.sig"
  "$weft_pack" sign --key "$keys/$2.key" "$stage/$1" >/dev/null
  "$weft_pack" build-image --key "$keys/$2.key" --out "$root/var/lib/weft/images/${3:-org.weft.$1}" "$stage/$1" >/dev/null
}
image hello system
image clock system
image notes system
image fetch stranger
image test-memory-bomb system org.weft.test.memory-bomb
image test-infinite-loop system org.weft.test.infinite-loop
# Flip one byte in the middle of the notes image's data area.
tampered=$(echo "$root"/var/lib/weft/images/org.weft.notes/*.wimg)
data_size=$(sed -n 's/^data-size = \([0-9]*\)$/\1/p' "${tampered%.wimg}.sig")
offset=$((data_size / 2))
byte=$(od -An -tu1 -j "$offset" -N1 "$tampered" | tr -d ' ')
printf "$(printf '\\%03o' $(((byte + 1) % 256)))" | dd of="$tampered" bs=1 seek="$offset" conv=notrunc status=none

# A 16 MiB EROFS image of random data with its verity tree appended, to
# compare reads through dm-verity with plain reads of the same image.
bench=$vm/bench
if [[ ! -f $bench/bench.img ]]; then
  rm -rf "$bench" && mkdir -p "$bench/tree"
  head -c $((16 << 20)) /dev/urandom >"$bench/tree/data"
  mkfs.erofs --quiet -T 0 --all-root -x-1 "$bench/data.erofs" "$bench/tree"
  veritysetup format "$bench/data.erofs" "$bench/hash" | sed -n 's/^Root hash:[[:space:]]*//p' >"$bench/root-hash"
  stat -c %s "$bench/data.erofs" >"$bench/data-size"
  cat "$bench/data.erofs" "$bench/hash" >"$bench/bench.img"
  rm -rf "$bench/tree" "$bench/data.erofs" "$bench/hash"
fi
mkdir -p "$root/bench"
cp "$bench"/{bench.img,root-hash,data-size} "$root/bench/"

(cd "$root" && find . | LC_ALL=C sort | cpio -o -H newc --reproducible --quiet) | gzip -1 >"$vm/initramfs.cpio.gz"
web=-
if bash tests/servo.sh built; then
  web=$vm/web.erofs
  bash tests/vm/build-web.sh "$(bash tests/servo.sh bins)" "$web"
fi
echo "$kernel"
echo "$vm/initramfs.cpio.gz"
echo "$web"
