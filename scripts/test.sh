#!/usr/bin/env bash
# Runs every test: unit tests, the libvirt driver on test:///default and qemu:///system, and
# the workspace tests on both columns (SQLite + in-process bus; PostgreSQL + RabbitMQ with
# each service its own process). Installs and starts what it needs first.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh services      # also libvirtd + QEMU for the real-guest tests
bash scripts/build-plugins.sh        # WASM scheduler plugins (first-party and hostile)
cargo build -q -p metacloud          # the binary the process-level tests start
export METACLOUD_TEST_AMQP_REQUIRED=1
log=$(mktemp)
trap 'rm -f "$log"' EXIT
status=0
cargo test --workspace --lib --bins --tests --no-fail-fast "$@" 2>&1 | tee "$log" || status=$?
cargo test --manifest-path sdk/Cargo.toml --lib 2>&1 | tee -a "$log" || status=$?
cargo test --manifest-path plugins/Cargo.toml -p openstack-api -p admin-api -p identity-api -p image-api -p ec2-api -p metadata-api -p network-api --lib 2>&1 | tee -a "$log" || status=$?
# rustfmt and clippy (warnings as errors) over the root, plugins/ and sdk/ workspaces.
bash scripts/lint.sh 2>&1 | tee -a "$log" || status=1
# Real OpenStack and AWS clients against `metacloud all` (../shared/conformance, and ours in
# tests/conformance: boto3 on EC2 addresses and security groups): the openstack
# CLI workflow, its network commands over the Network API, boto3 and the aws CLI on the EC2
# API, cloud-init's metadata crawlers, every announced compute microversion against
# tempest's response schemas (tests/conformance/microversions.sh), the nova CLI at its newest
# shared microversion and at 2.1, and tempest's compute API
# groups (known failures: scripts/tempest-known-failures.txt).
bash scripts/conformance.sh openstack-cli openstack-network-cli ec2 ec2-network metadata microversions nova-cli 2>&1 | tee -a "$log" || status=1
# novaclient again, pinned to 2.1 (above it negotiated the newest version both know).
NOVA_API_VERSION=2.1 bash scripts/conformance.sh nova-cli 2>&1 | tee -a "$log" || status=1
# tempest's compute groups with the Network API on (tempest's network mode: neutron = True,
# a shared and an external network made first), plus its floating IP and security group
# groups; `METACLOUD_CONFORMANCE_NETWORK_API=off` runs them on Nova's network APIs instead.
METACLOUD_CONFORMANCE_NETWORK_API=${METACLOUD_CONFORMANCE_NETWORK_API:-on} \
  METACLOUD_TEMPEST_REGEX='^tempest\.api\.compute\.(servers|flavors|keypairs|limits|test_quotas|test_versions|admin\.(test_flavors|test_quotas|test_services|test_hypervisor|test_aggregates|test_availability_zone|test_servers\b)|test_extensions|servers\.test_availability_zone|floating_ips|security_groups)' \
  bash scripts/conformance.sh tempest 2>&1 | tee -a "$log" || status=1
# tempest's own Network API tests against the Network API (IPv4, the extensions it lists).
METACLOUD_CONFORMANCE_NETWORK_API=on \
  METACLOUD_TEMPEST_REGEX='^tempest\.api\.network\.(test_networks|test_ports|test_security_groups|test_floating_ips|test_routers)' \
  bash scripts/conformance.sh tempest 2>&1 | tee -a "$log" || status=1
# A real guest on qemu:///system, booted and read back with the openstack CLI; and one on a
# network made through the Network API: DHCP, a floating address answering curl from an
# outside namespace, a deleted rule closing it within 5 s, a port hot-plugged into the
# running guest and out again (tests/conformance/network-guest.sh).
if [ "${METACLOUD_SKIP_QEMU:-}" = 1 ]; then
  echo "!!! SKIPPED: real guests on qemu:///system (METACLOUD_SKIP_QEMU=1) !!!" | tee -a "$log"
else
  METACLOUD_CONFORMANCE_SHOW=1 METACLOUD_CONFORMANCE_CONFIG=examples/qemu.toml bash scripts/conformance.sh guest network-guest 2>&1 | tee -a "$log" || status=1
fi
passed=$(grep -Eo '^test result: .* ([0-9]+) passed' "$log" | grep -Eo '[0-9]+ passed' | awk '{s+=$1} END {print s+0}')
failed=$(grep -Eo '^test result: .* ([0-9]+) failed' "$log" | grep -Eo '[0-9]+ failed' | awk '{s+=$1} END {print s+0}')
passed=$((passed + $(grep -Ec '^(conformance|check) .*: passed' "$log" || true)))
failed=$((failed + $(grep -Ec '^(conformance|check) .*: FAILED' "$log" || true)))
echo
echo "tests: $passed passed, $failed failed"
[ "$status" -eq 0 ] && [ "$failed" -eq 0 ]
