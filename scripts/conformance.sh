#!/usr/bin/env bash
# Runs the shared conformance scripts against a fresh `metacloud all` (embedded defaults,
# the ports OpenStack users know) with real clients nobody here wrote.
#
#   scripts/conformance.sh [openstack-cli ...]     (default: openstack-cli)
#
# Needs the binary and plugins built (scripts/test.sh does that first). Prints one line
# per script, `conformance <name>: passed|FAILED`, and exits non-zero if any failed.
set -uo pipefail
cd "$(dirname "$0")/.."
shared="${METACLOUD_SHARED:-$(cd .. && pwd)/shared}/conformance"
[ -d "$shared" ] || { echo "conformance: no $shared" >&2; exit 2; }
data=$(mktemp -d)
log="$data/metacloud.log"
METACLOUD_DATA="$data" ./target/debug/metacloud --config examples/all-in-one.toml all >"$log" 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null; wait $pid 2>/dev/null; rm -rf "$data"' EXIT
for _ in $(seq 1 120); do
  grep -q '^ready' "$log" && break
  kill -0 $pid 2>/dev/null || { echo "conformance: metacloud did not start:"; tail -20 "$log"; exit 1; }
  sleep 0.5
done
status=0
for name in "${@:-openstack-cli}"; do
  if bash "$shared/$name.sh" "$data/clouds.yaml" >"$data/$name.out" 2>&1; then
    echo "conformance $name: passed"
  else
    echo "conformance $name: FAILED"; tail -25 "$data/$name.out"; status=1
  fi
done
exit $status
