#!/usr/bin/env bash
# Runs Metacloud all-in-one on the embedded defaults (SQLite, in-process bus, libvirt's
# test:///default), with its data in ./metacloud-data (or $METACLOUD_DATA).
# The scheduler runs the WASM plugins of examples/all-in-one.toml; other arguments replace
# that config, e.g. `scripts/run.sh --config my.toml`.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh build
bash scripts/build-plugins.sh
cargo build --release -q -p metacloud
if [ $# -eq 0 ]; then
  set -- --config examples/all-in-one.toml
fi
exec target/release/metacloud "$@" all
