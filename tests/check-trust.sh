#!/usr/bin/env bash
# Trust boundaries as crate boundaries: what runs privileged or supervises
# links no compiler, and the verify crate links no compiler, async runtime or
# command-line parser. Fails naming the crate and the dependency path.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../rust"

failed=0
# refuse CRATE PATTERN WHY: CRATE's normal dependency tree must not match PATTERN.
refuse() {
  local crate=$1 pattern=$2 why=$3 tree found
  if ! tree=$(cargo tree --locked -p "$crate" -e normal --prefix none); then
    echo "FAIL: cannot list the dependencies of $crate (above)" >&2
    failed=1
    return
  fi
  found=$(grep -E "^($pattern) v" <<<"$tree" | sed "s/ (\*)//" | sort -u || true)
  if [[ -n $found ]]; then
    echo "FAIL: $crate links $why:" >&2
    sed 's/^/  /' <<<"$found" >&2
    echo "  (cargo tree -p $crate -e normal -i <name> shows the path)" >&2
    failed=1
  else
    echo "ok: $crate links no $why"
  fi
}

compiler='wasmtime|wasmtime-[a-z-]+|cranelift-[a-z-]+|winch-[a-z-]+|wat|wast'
refuse weft-mount-helper "$compiler" "WebAssembly compiler (wasmtime, Cranelift, Winch, wat)"
refuse weft-appd "$compiler" "WebAssembly compiler (wasmtime, Cranelift, Winch, wat)"
refuse weftctl "$compiler" "WebAssembly compiler (wasmtime, Cranelift, Winch, wat)"
refuse weft-file-portal "$compiler" "WebAssembly compiler (wasmtime, Cranelift, Winch, wat)"
# The runtime loads precompiled code only: wasmtime without a compiler
# (cranelift-entity, -bforest and -bitset are wasmtime's data structures).
refuse weft-runtime 'wasmtime-cranelift|wasmtime-winch|cranelift-(codegen|frontend|native|control)|winch-[a-z-]+|wat|wast' \
  "compiler (Cranelift, Winch, wat): it loads what the installer compiled"
refuse weft-verify "$compiler|tokio|clap" "compiler, async runtime or CLI parser (wasmtime, tokio, clap)"
exit "$failed"
