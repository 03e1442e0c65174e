#!/usr/bin/env bash
# Builds the first-party plugins (and the hostile ones the tests use) and the examples into
# WebAssembly components under plugins/dist/ (api/, network/, hostile/, examples/). Idempotent.
set -euo pipefail
cd "$(dirname "$0")/.."
if command -v rustup >/dev/null 2>&1 && ! rustup target list --installed | grep -qx wasm32-wasip2; then
  rustup target add wasm32-wasip2
fi
# The "other WIT major" hostile plugin is the current scheduler package, renumbered.
v2=plugins/hostile/hostile-v2/wit/scheduler.wit
sed 's/^package metacloud:scheduler@1\.0\.0;/package metacloud:scheduler@2.0.0;/' wit/scheduler/scheduler.wit > "$v2.tmp"
cmp -s "$v2.tmp" "$v2" && rm "$v2.tmp" || mv "$v2.tmp" "$v2"
cargo build -q --manifest-path plugins/Cargo.toml --target wasm32-wasip2 --release
out=plugins/target/wasm32-wasip2/release
mkdir -p plugins/dist/hostile plugins/dist/api plugins/dist/network
for crate in $(sed -n 's/^    "\(.*\)",$/\1/p' plugins/Cargo.toml); do
  name=$(basename "$crate")
  file="$out/${name//-/_}.wasm"
  case "$crate" in
    hostile/*) dest="plugins/dist/hostile/$name.wasm" ;;
    *-api) dest="plugins/dist/api/$name.wasm" ;;
    network-*) dest="plugins/dist/network/${name#network-}.wasm" ;;
    *) dest="plugins/dist/$name.wasm" ;;
  esac
  cmp -s "$file" "$dest" 2>/dev/null || cp "$file" "$dest"
done
# Third-party examples: a Rust weigher, a Rust API dialect and a Python filter (componentize-py from PyPI).
mkdir -p plugins/dist/examples
CARGO_TARGET_DIR=plugins/target cargo build -q --manifest-path examples/plugins/pack-weigher/Cargo.toml \
  --target wasm32-wasip2 --release
cmp -s "$out/pack_weigher.wasm" plugins/dist/examples/pack-weigher.wasm 2>/dev/null \
  || cp "$out/pack_weigher.wasm" plugins/dist/examples/pack-weigher.wasm
# … and an API dialect written with the SDK (sdk/README.md, "Writing an API dialect").
CARGO_TARGET_DIR=plugins/target cargo build -q --manifest-path examples/plugins/hello-dialect/Cargo.toml \
  --target wasm32-wasip2 --release
cmp -s "$out/hello_dialect.wasm" plugins/dist/examples/hello-dialect.wasm 2>/dev/null \
  || cp "$out/hello_dialect.wasm" plugins/dist/examples/hello-dialect.wasm
venv="${METACLOUD_PLUGIN_VENV:-$HOME/.cache/metacloud-plugins/venv}"
if [ ! -x "$venv/bin/componentize-py" ]; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q componentize-py==0.25.1
fi
py=plugins/dist/examples/headroom-filter.wasm
if [ ! -f "$py" ] || [ examples/plugins/python-filter/app.py -nt "$py" ] || [ wit/scheduler/scheduler.wit -nt "$py" ]; then
  "$venv/bin/componentize-py" -d wit/scheduler -w filter-plugin componentize app \
    -p examples/plugins/python-filter -o "$py.tmp" >/dev/null
  mv "$py.tmp" "$py"
fi
echo "[build-plugins] $(ls plugins/dist/*.wasm | wc -l) plugins in plugins/dist, $(ls plugins/dist/network/*.wasm | wc -l) network drivers, $(ls plugins/dist/hostile/*.wasm | wc -l) hostile, $(ls plugins/dist/examples/*.wasm | wc -l) examples"
