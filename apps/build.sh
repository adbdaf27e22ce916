#!/usr/bin/env bash
# Builds every app under apps/ into a wasm32-wasip2 component and assembles each
# into a package directory: $WEFT_BUILD_DIR/apps/<app>/{wapp.toml,app.wasm,ui/}.
#
# Installs what it needs first, idempotently (the recipe measured in
# ../shared/docs/TOOLCHAIN.md): Debian's rustc-web, cargo-web and rust-web-src at one
# matching version (-Zbuild-std needs the std source to match the compiler exactly)
# plus wasi-libc from bookworm-backports, whose wasm32-wasip2 libc the guests link
# against; the component linker comes from the rustup toolchain. The guest
# target dir is cached outside the clone so reruns take seconds.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cache=${WEFT_CACHE_DIR:-/var/cache/weft}
out=${WEFT_BUILD_DIR:-$repo/build}/apps

# Prints the installed version of a Debian package, or nothing.
installed_version() {
  { dpkg-query -W -f='${db:Status-Status} ${Version}' "$1" 2>/dev/null || true; } |
    awk '$1 == "installed" { print $2 }'
}

ensure_guest_toolchain() {
  local rustc_v cargo_v src_v
  rustc_v=$(installed_version rustc-web)
  cargo_v=$(installed_version cargo-web)
  src_v=$(installed_version rust-web-src)
  if [[ -n $rustc_v && $rustc_v == "$cargo_v" && $rustc_v == "$src_v" && -f /usr/lib/wasm32-wasip2/libc.a ]]; then
    return
  fi
  echo "apps/build.sh: installing the guest toolchain (rustc-web, cargo-web, rust-web-src, wasi-libc)" >&2
  # wasi-libc with a wasm32-wasip2 build comes from bookworm-backports (bookworm's
  # own 2022 snapshot is preview 1 only, and its start-up preopen scan traps in
  # the preview 1 adapter).
  if ! grep -rqs "bookworm-backports" /etc/apt/sources.list /etc/apt/sources.list.d/; then
    echo "deb http://deb.debian.org/debian bookworm-backports main" >/etc/apt/sources.list.d/weft-backports.list
  fi
  apt-get update -qq
  local candidate
  candidate=$(apt-cache policy rustc-web | awk '/Candidate:/ { print $2 }')
  if [[ -z $candidate || $candidate == "(none)" ]]; then
    echo "apps/build.sh: Debian has no rustc-web package here; see docs/building.md" >&2
    exit 1
  fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
    "rustc-web=$candidate" "cargo-web=$candidate" "rust-web-src=$candidate" >/dev/null
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
    -t bookworm-backports wasi-libc >/dev/null
}

ensure_guest_toolchain

# wasm-component-ld and wasm-ld ship with the rustup toolchain that builds the host.
linker_bin="$(dirname "$(dirname "$(rustup which rustc)")")/lib/rustlib/x86_64-unknown-linux-gnu/bin"
if [[ ! -x $linker_bin/wasm-component-ld ]]; then
  echo "apps/build.sh: $linker_bin/wasm-component-ld is missing from the rustup toolchain" >&2
  exit 1
fi

export RUSTC=/usr/bin/rustc RUSTDOC=/usr/bin/rustdoc RUSTC_BOOTSTRAP=1
export CARGO_TARGET_DIR=$cache/guest-target
bash "$repo/tests/claim-target-dir.sh" "$CARGO_TARGET_DIR" "$repo/apps/Cargo.toml"
/usr/bin/cargo build --quiet --locked --release \
  --manifest-path "$repo/apps/Cargo.toml" \
  --target wasm32-wasip2 -Zbuild-std=std,panic_abort \
  --config "target.wasm32-wasip2.linker=\"$linker_bin/wasm-component-ld\"" \
  --config "target.wasm32-wasip2.rustflags=[\"-Clink-self-contained=no\",\"-Clink-arg=--wasm-ld-path=$linker_bin/gcc-ld/wasm-ld\",\"-Clink-arg=-L/usr/lib/wasm32-wasip2\",\"-Clink-arg=/usr/lib/wasm32-wasip2/crt1-command.o\"]"

# Assemble one package directory per app. The manifest names the module
# `app.wasm`; weft-pack checks that the file is there and is a component.
for manifest in "$repo"/apps/*/wapp.toml; do
  app_dir=$(dirname "$manifest")
  app=$(basename "$app_dir")
  package=$out/$app
  rm -rf "$package"
  mkdir -p "$package"
  cp "$manifest" "$package/wapp.toml"
  cp "$CARGO_TARGET_DIR/wasm32-wasip2/release/$app.wasm" "$package/app.wasm"
  if [[ -d $app_dir/ui ]]; then
    cp -R "$app_dir/ui" "$package/ui"
  fi
  echo "built $package ($(stat -c %s "$package/app.wasm") bytes of component)"
done
