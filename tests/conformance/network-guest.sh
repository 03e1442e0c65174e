#!/usr/bin/env bash
# A real guest on a network made through the Network API, driven with the real openstack CLI:
# it gets its address by DHCP; a floating address from an external network on an operator's
# bridge answers its METACLOUD-GUEST-HTTP page to curl from an "outside" namespace this script
# makes; deleting the group's TCP 80 rule stops that within 5 s; a port of a second network
# hot-plugged into the running guest (`server add port`) is leased by the guest on its new
# NIC, and `server remove port` takes the NIC out of the guest again, the port kept.
# Every wait is bounded.
#
#   network-guest.sh [CLOUDS_YAML]
#
# Needs a cloud on qemu:///system with the network worker and `mcpub0` in
# `network.allowed_interfaces` (examples/qemu.toml), and the guest image of
# ../shared/guest/build-guest.sh (METACLOUD_GUEST_DIR, default target/guest). Packets stay
# between the bridge and namespace made here and the guest. Run as root by
# `METACLOUD_CONFORMANCE_CONFIG=examples/qemu.toml scripts/conformance.sh network-guest`.
set -euo pipefail
clouds=${1:-${METACLOUD_DATA:-./metacloud-data}/clouds.yaml}
[ -f "$clouds" ] || { echo "no clouds.yaml at $clouds" >&2; exit 2; }
export OS_CLIENT_CONFIG_FILE=$(cd "$(dirname "$clouds")" && pwd)/$(basename "$clouds")
venv=${CONFORMANCE_VENV:-$HOME/.cache/metacloud-conformance/venv}
[ -x "$venv/bin/openstack" ] || { python3 -m venv "$venv"; "$venv/bin/pip" install -q python-openstackclient; }
guest=${METACLOUD_GUEST_DIR:-target/guest}/guest.raw
[ -f "$guest" ] || { echo "no guest image at $guest" >&2; exit 2; }
os() { timeout 120 "$venv/bin/openstack" "$@"; }
demo() { os --os-cloud metacloud "$@"; }
admin() { os --os-cloud metacloud-admin "$@"; }
step() { printf '\n== %s\n' "$*"; }
fail() { echo "FAIL: $*" >&2; exit 1; }

tag=$$
bridge=mcpub0 ns=mcpub-out-$tag
cleanup() {
  set +e
  demo server delete --wait "vm-$tag" >/dev/null 2>&1
  demo port delete "port2-$tag" >/dev/null 2>&1
  demo subnet delete "sub2-$tag" >/dev/null 2>&1; demo network delete "net2-$tag" >/dev/null 2>&1
  [ -n "${fip:-}" ] && demo floating ip delete "$fip" >/dev/null 2>&1
  demo subnet delete "sub-$tag" >/dev/null 2>&1; demo network delete "net-$tag" >/dev/null 2>&1
  demo security group delete "web-$tag" >/dev/null 2>&1
  demo image delete "guest-$tag" >/dev/null 2>&1
  admin subnet delete "pub-sub-$tag" >/dev/null 2>&1; admin network delete "pub-$tag" >/dev/null 2>&1
  ip netns del "$ns" 2>/dev/null; ip link del "$bridge" 2>/dev/null
}
trap cleanup EXIT
# Types a line into the guest's root shell on its serial console (libvirt's pty). The
# guest's init would run user data itself, but its busybox crashes on `wget -T` (see
# tests/all/guests.rs), so commands are typed, as the guest tests type them.
guest_type() {
  local pts
  pts=$(virsh -c qemu:///system ttyconsole "instance-$(demo server show "vm-$tag" -f value -c id)" | tr -d '[:space:]')
  [ -c "$pts" ] || fail "no serial console for vm-$tag"
  # Held open around the write: QEMU notices a connected pty only on its next poll.
  exec 3<>"$pts"
  sleep 1.5
  # busybox's line editor asks where the cursor is (ESC [6n): answer, then the line.
  printf '\033[1;1R%s\r' "$1" >&3
  sleep 1.5
  exec 3>&-
}

step "an operator's bridge and an outside namespace on it (203.0.113.0/24)"
ip link add "$bridge" type bridge 2>/dev/null || true
ip link set "$bridge" up
ip netns add "$ns"
ip link add "o$tag" type veth peer name "i$tag"
ip link set "o$tag" master "$bridge" up
ip link set "i$tag" netns "$ns"
ip -n "$ns" addr add 203.0.113.254/24 dev "i$tag"
ip -n "$ns" link set "i$tag" up
ip -n "$ns" link set lo up

step "admin: an external network on the bridge"
admin network create --external --provider-network-type flat --provider-physical-network "$bridge" "pub-$tag" >/dev/null
admin subnet create --network "pub-$tag" --subnet-range 203.0.113.0/24 --no-dhcp \
  --allocation-pool start=203.0.113.10,end=203.0.113.20 "pub-sub-$tag" >/dev/null

step "tenant: a network, a group that lets TCP 80 in, a guest on both"
demo network create "net-$tag" >/dev/null
demo subnet create --network "net-$tag" --subnet-range 10.30.0.0/24 "sub-$tag" >/dev/null
demo security group create "web-$tag" >/dev/null
rule=$(demo security group rule create --protocol tcp --dst-port 80 --remote-ip 0.0.0.0/0 "web-$tag" -f value -c id)
demo image create --disk-format raw --container-format bare --file "$guest" "guest-$tag" >/dev/null
demo server create --image "guest-$tag" --flavor m1.tiny --network "net-$tag" --security-group "web-$tag" \
  --wait "vm-$tag" >/dev/null || fail "server create --network --security-group"
fixed=""
for _ in $(seq 1 90); do
  fixed=$(demo console log show "vm-$tag" 2>/dev/null | grep -o 'stage=net ip=10\.30\.0\.[0-9]*' | head -1 | sed 's/.*ip=//' || true)
  [ -n "$fixed" ] && break
  sleep 1
done
[ -n "$fixed" ] || { demo console log show "vm-$tag" | tail -20; fail "the guest got no 10.30.0.x lease by DHCP"; }
echo "the guest leased $fixed"
demo server show "vm-$tag" -f value -c addresses | grep -q "$fixed" || fail "server addresses do not show $fixed"

step "a floating address, attached: the page answers from outside"
fip=$(demo floating ip create "pub-$tag" -f value -c floating_ip_address)
demo server add floating ip "vm-$tag" "$fip"
page=""
for _ in $(seq 1 30); do
  page=$(ip netns exec "$ns" curl -s -m 2 "http://$fip/" || true)
  [ -n "$page" ] && break
  sleep 1
done
echo "curl http://$fip/ from $ns: ${page:-nothing}"
case "$page" in "METACLOUD-GUEST-HTTP "*" $fixed/"*) ;; *) fail "no guest page at the floating address" ;; esac
demo server show "vm-$tag" -f json | grep -q "$fip" || fail "the server does not show its floating address"

step "the TCP 80 rule deleted: the page stops within 5 s"
demo security group rule delete "$rule"
asked=$(date +%s%N)
closed=""
for _ in $(seq 1 10); do
  if ! ip netns exec "$ns" curl -s -m 1 "http://$fip/" >/dev/null; then closed=yes; break; fi
  sleep 0.5
done
took=$(( ($(date +%s%N) - asked) / 1000000 ))
[ -n "$closed" ] && [ "$took" -le 5000 ] || fail "the page still answers ${took} ms after the rule went"
echo "closed ${took} ms after the rule was deleted"

step "hot-plug: a port of a second network attached to the running guest, then detached"
demo network create "net2-$tag" >/dev/null
demo subnet create --network "net2-$tag" --subnet-range 10.31.0.0/24 "sub2-$tag" >/dev/null
port2=$(demo port create --network "net2-$tag" "port2-$tag" -f value -c id)
addr2=$(demo port show "$port2" -f json | python3 -c 'import json,sys; print(json.load(sys.stdin)["fixed_ips"][0]["ip_address"])')
demo server add port "vm-$tag" "$port2" || fail "server add port"
demo server show "vm-$tag" -f json | grep -q "$addr2" || fail "the server does not show $addr2 after the attach"
guest_type 'i=0; while [ ! -e /sys/class/net/eth1 ] && [ $i -lt 30 ]; do sleep 1; i=$((i+1)); done; ip link set eth1 up; udhcpc -i eth1 -s /usr/share/udhcpc/default.script -q -n -t 10 -T 1 >/dev/null 2>&1; echo "GUEST-HOTPLUG eth1 ip=$(ip -4 -o addr show dev eth1 | awk "{print \$4}")"'
leased=""
for _ in $(seq 1 60); do
  leased=$(demo console log show "vm-$tag" 2>/dev/null | grep -o 'GUEST-HOTPLUG eth1 ip=[0-9][0-9./]*' | head -1 | sed 's/.*ip=//' || true)
  [ -n "$leased" ] && break
  sleep 1
done
[ -n "$leased" ] || { demo console log show "vm-$tag" | tail -20; fail "the guest saw no eth1, or leased nothing on it"; }
echo "the guest leased $leased on its hot-plugged eth1 (port $addr2)"
[ "${leased%/*}" = "$addr2" ] || fail "the guest leased $leased, the port has $addr2"
demo server remove port "vm-$tag" "$port2" || fail "server remove port"
# The API answers once the guest has let the device go.
guest_type '[ -e /sys/class/net/eth1 ] && echo GUEST-UNPLUG-$((1))-still || echo GUEST-UNPLUG-$((0))-gone'
unplugged=""
for _ in $(seq 1 30); do
  unplugged=$(demo console log show "vm-$tag" 2>/dev/null | grep -o 'GUEST-UNPLUG-[01]-[a-z]*' | head -1 || true)
  [ -n "$unplugged" ] && break
  sleep 1
done
[ "$unplugged" = GUEST-UNPLUG-0-gone ] || fail "eth1 after server remove port: ${unplugged:-no answer from the guest}"
[ -z "$(demo port show "$port2" -f value -c device_id)" ] || fail "the port is still bound after the detach"
if demo server show "vm-$tag" -f json | grep -q "$addr2"; then fail "the server still shows $addr2"; fi
echo "eth1 left the guest; the port is kept, unbound"

echo
echo "network-guest: all steps passed"
