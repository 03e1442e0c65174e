#!/usr/bin/env bash
# Builds the first-party scheduler plugins (and the hostile ones the tests use) into
# WebAssembly components: plugins/dist/*.wasm and plugins/dist/hostile/*.wasm. Idempotent.
set -euo pipefail
cd "$(dirname "$0")/.."
if command -v rustup >/dev/null 2>&1 && ! rustup target list --installed | grep -qx wasm32-wasip2; then
  rustup target add wasm32-wasip2
fi
cargo build -q --manifest-path plugins/Cargo.toml --target wasm32-wasip2 --release
out=plugins/target/wasm32-wasip2/release
mkdir -p plugins/dist/hostile
for crate in $(sed -n 's/^    "\(.*\)",$/\1/p' plugins/Cargo.toml); do
  name=$(basename "$crate")
  file="$out/${name//-/_}.wasm"
  case "$crate" in
    hostile/*) dest="plugins/dist/hostile/$name.wasm" ;;
    *) dest="plugins/dist/$name.wasm" ;;
  esac
  cmp -s "$file" "$dest" 2>/dev/null || cp "$file" "$dest"
done
echo "[build-plugins] $(ls plugins/dist/*.wasm | wc -l) plugins in plugins/dist, $(ls plugins/dist/hostile/*.wasm | wc -l) hostile"
