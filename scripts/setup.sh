#!/usr/bin/env bash
# Installs what Metacloud needs on a fresh Debian 12 machine, idempotently:
#   setup.sh build     Debian packages to build (libvirt-dev, pkg-config, qemu-img) and the
#                      wasm32-wasip2 Rust target for plugins
#   setup.sh hypervisor  also libvirtd + virtlogd + QEMU, started without systemd
#   setup.sh services  also checks PostgreSQL and RabbitMQ on 127.0.0.1, starting them if
#                      they are installed but stopped
# Each step checks first and only acts when something is missing. Run as root.
set -euo pipefail
say() { echo "[setup] $*"; }
want=${1:-build}

need_pkgs() { # prints the packages of "$@" that are not installed
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || echo "$p"
  done
}

apt_install() {
  local missing
  missing=$(need_pkgs "$@" | tr '\n' ' ')
  if [ -n "${missing// }" ]; then
    say "installing Debian packages: $missing"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    # qemu-utils goes with qemu-system-x86 in one transaction so apt picks matching versions.
    apt-get install -y -qq $missing qemu-utils >/dev/null
  fi
}

# 1. build dependencies -------------------------------------------------------------------
apt_install pkg-config libvirt-dev libvirt0 qemu-utils
# The network worker: nftables, one dnsmasq per network (dnsmasq-base: no system service),
# dhcp_release, conntrack; busybox's udhcpc is the DHCP client of the network tests.
apt_install nftables dnsmasq-base dnsmasq-utils conntrack busybox
if command -v rustup >/dev/null 2>&1; then
  if ! rustup target list --installed 2>/dev/null | grep -qx wasm32-wasip2; then
    say "adding the wasm32-wasip2 Rust target (plugins)"
    rustup target add wasm32-wasip2 >/dev/null 2>&1 || say "warning: rustup target add wasm32-wasip2 failed (no plugin is built yet)"
  fi
fi
[ "$want" = build ] && exit 0

# 2. hypervisor: libvirtd and virtlogd for qemu:///system, without systemd -----------------
# The machine's qemu-utils may come from bookworm-backports (QEMU 10), which conflicts with
# bookworm's QEMU 7.2 system emulator: take the emulator from backports too, then.
if dpkg-query -W -f='${Version}' qemu-utils 2>/dev/null | grep -q '~bpo12'; then
  if [ -n "$(need_pkgs libvirt-daemon libvirt-daemon-driver-qemu libvirt-clients qemu-system-x86 qemu-system-modules-spice)" ]; then
    say "installing libvirt and QEMU (system emulator from bookworm-backports, as qemu-utils)"
    bp=/etc/apt/sources.list.d/metacloud-backports.sources
    [ -f "$bp" ] || printf 'Types: deb\nURIs: http://deb.debian.org/debian\nSuites: bookworm-backports\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n' > "$bp"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends libvirt-daemon libvirt-daemon-driver-qemu \
      libvirt-clients qemu-system-x86/bookworm-backports qemu-system-common/bookworm-backports \
      qemu-system-data/bookworm-backports seabios/bookworm-backports \
      qemu-system-modules-spice/bookworm-backports qemu-system-modules-opengl/bookworm-backports >/dev/null
  fi
else
  apt_install libvirt-daemon libvirt-daemon-driver-qemu libvirt-clients qemu-system-x86 qemu-utils
fi
# What ../shared/guest/build-guest.sh needs to make the test guest (cpio for its initramfs,
# mtools and dosfstools for its bootable disk, e2fsprogs for its data disk).
apt_install cpio mtools dosfstools e2fsprogs
getent group kvm >/dev/null || groupadd -r kvm
getent group libvirt-qemu >/dev/null || groupadd -r libvirt-qemu
id libvirt-qemu >/dev/null 2>&1 || useradd -r -g libvirt-qemu -G kvm -d /var/lib/libvirt -s /usr/sbin/nologin libvirt-qemu
qc=/etc/libvirt/qemu.conf
mkdir -p /etc/libvirt && touch "$qc"
set_kv() { # key value: run QEMU as root so image and log paths need no ownership games
  grep -Eq "^[[:space:]]*$1[[:space:]]*=[[:space:]]*$2[[:space:]]*$" "$qc" && return 0
  if grep -Eq "^[[:space:]]*$1[[:space:]]*=" "$qc"; then
    sed -i -E "s|^[[:space:]]*$1[[:space:]]*=.*|$1 = $2|" "$qc"
  else
    echo "$1 = $2" >> "$qc"
  fi
}
set_kv user '"root"'
set_kv group '"root"'
if [ -d /sys/kernel/security/apparmor ] || [ -e /sys/fs/selinux/enforce ]; then
  set_kv security_driver '"none"'
fi
mkdir -p /var/run/libvirt /var/log/libvirt/qemu /var/lib/libvirt/qemu /var/cache/libvirt/qemu
alive() { [ -f "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }
alive /var/run/virtlogd.pid || { virtlogd -d; say "started virtlogd"; }
alive /var/run/libvirtd.pid || { LIBVIRT_LOG_OUTPUTS="3:file:/var/log/libvirt/libvirtd.log" libvirtd -d; say "started libvirtd"; }
for _ in $(seq 150); do
  [ -S /var/run/libvirt/libvirt-sock ] && virsh -q -c qemu:///system version >/dev/null 2>&1 && break
  sleep 0.2
done
virsh -q -c qemu:///system version >/dev/null 2>&1 || { say "libvirtd does not answer on qemu:///system"; tail -20 /var/log/libvirt/libvirtd.log || true; exit 1; }
# iproute2 makes /run/netns a shared mount point on the first `ip netns add`; two first uses
# at once (parallel tests, a worker) stack two such mounts, and a namespace made between them
# is hidden under the second, never to be deleted. Made once here, before anything runs.
mkdir -p /run/netns
mountpoint -q /run/netns || mount --bind /run/netns /run/netns
mount --make-shared /run/netns
[ "$want" = hypervisor ] && exit 0

# 3. PostgreSQL and RabbitMQ on 127.0.0.1 (the scale column of the tests) -------------------
port_open() { (echo > "/dev/tcp/127.0.0.1/$1") >/dev/null 2>&1; }
if ! port_open 5432; then
  if ls /etc/postgresql >/dev/null 2>&1; then
    say "starting PostgreSQL"
    pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -1)" main start || true
  fi
fi
if ! port_open 5672 && command -v rabbitmq-server >/dev/null 2>&1; then
  say "starting RabbitMQ"
  rabbitmq-server -detached || true
fi
for _ in $(seq 60); do port_open 5432 && port_open 5672 && break; sleep 1; done
port_open 5432 || { say "PostgreSQL is not listening on 127.0.0.1:5432"; exit 1; }
port_open 5672 || { say "RabbitMQ is not listening on 127.0.0.1:5672"; exit 1; }
