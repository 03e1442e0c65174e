#!/usr/bin/env bash
# Runs every test: unit tests, the libvirt driver on test:///default and qemu:///system, and
# the workspace tests on both columns (SQLite + in-process bus; PostgreSQL + RabbitMQ with
# each service its own process). Installs and starts what it needs first.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh services
cargo build -q -p metacloud          # the binary the process-level tests start
export METACLOUD_TEST_AMQP_REQUIRED=1
cargo test --workspace --no-fail-fast "$@"
