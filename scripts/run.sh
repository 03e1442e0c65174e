#!/usr/bin/env bash
# Runs Metacloud all-in-one on the embedded defaults (SQLite, in-process bus, libvirt's
# test:///default), with its data in ./metacloud-data (or $METACLOUD_DATA).
# Extra arguments go to the binary, e.g. `scripts/run.sh --config examples/all-in-one.toml`.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh build
cargo build --release -q -p metacloud
exec target/release/metacloud "$@" all
