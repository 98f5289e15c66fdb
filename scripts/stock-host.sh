#!/usr/bin/env bash
# `npm run test:stock-host`: proves Airlock on a stock Debian 12 host, i.e. one with only the unified
# cgroup v2 hierarchy (these machines boot with hybrid cgroups, so the v2 code paths cannot run here
# natively). Builds (once, cached by a hash of everything that goes into it) a Debian bookworm disk
# image with mmdebstrap: runc, runsc, bubblewrap and what the server needs, the host's Node.js and
# the guest kernel's modules. Then the driver (packages/testkit/src/stock-host/) boots it under
# QEMU with `cgroup_no_v1=all`, the project tree shared in read-only and a writable scratch, runs the
# named subset of the suite inside and reports pass/fail here.
#
#   bash scripts/stock-host.sh [--full] [--keep-log DIR]
#   AIRLOCK_STOCK_HOST_SUBSET=ci|full   (default ci: the bounded subset that `npm test` runs)
set -euo pipefail
cd "$(dirname "$0")/.."

say() { printf 'stock-host: %s\n' "$*" >&2; }
[ "$(id -u)" = 0 ] || { say "must run as root (mmdebstrap --mode=root, virtiofsd, QEMU)"; exit 1; }

kernel=${AIRLOCK_VM_KERNEL:-$(ls /boot/vmlinuz-*-cloud-amd64 2>/dev/null | sort -V | tail -1)}
[ -n "$kernel" ] && [ -f "$kernel" ] || { say "no guest kernel (/boot/vmlinuz-*-cloud-amd64: apt-get install linux-image-cloud-amd64)"; exit 3; }
kver=${kernel##*/vmlinuz-}
initrd=/boot/initrd.img-$kver
[ -f "$initrd" ] && [ -d "/lib/modules/$kver" ] || { say "no initrd or modules for $kver"; exit 3; }
command -v qemu-system-x86_64 >/dev/null && [ -x /usr/lib/qemu/virtiofsd ] || { say "no QEMU or virtiofsd (apt-get install qemu-system-x86)"; exit 3; }
command -v mmdebstrap >/dev/null || { say "no mmdebstrap"; exit 3; }

# The guest's userland. runc/runsc/bubblewrap are the runtimes under test; util-linux has setpriv
# and unshare, kmod loads the modules the server's features need (loop, btrfs, overlay, veth, nft),
# golang-github-containers-common ships the seccomp profile ours is generated from, python3 is in
# the default image, the rest is what the server and the tests call.
packages=(runc runsc bubblewrap util-linux mount kmod procps iproute2 nftables conntrack btrfs-progs e2fsprogs zstd
  python3 libseccomp2 golang-github-containers-common attr bzip2 xz-utils tar gzip findutils libstdc++6 ca-certificates)
node_bin=$(command -v node)
cache=${AIRLOCK_FIXTURE_CACHE:-/var/cache/airlock-test}
mkdir -p "$cache"

# The rootfs tarball is cached by a hash of its package list (mmdebstrap takes minutes); the disk
# image by that plus what is added to it (the modules of the guest kernel, the host's node, the stub).
# The real init (scripts/stock-host-init.sh) comes through the scratch on every boot, so changing it
# rebuilds nothing. The stub only mounts that scratch and hands over.
stub='#!/bin/sh
mount -t proc proc /proc; mount -t sysfs sysfs /sys; mount -t devtmpfs devtmpfs /dev 2>/dev/null
/sbin/modprobe virtiofs && mkdir -p /scratch && mount -t virtiofs scratch /scratch && exec /bin/sh /scratch/init.sh
echo "STOCK-HOST-INIT-FAILED: no scratch" > /dev/console; echo o > /proc/sysrq-trigger; sleep 30'
rootfs_key=$( { echo "stock-host rootfs v1 bookworm minbase"; printf '%s\n' "${packages[@]}"; } | sha256sum | cut -c1-16)
rootfs=$cache/stock-host-rootfs-$rootfs_key.tar
image_key=$( { echo "stock-host image v1 $rootfs_key $kver"; sha256sum "$node_bin" | cut -d' ' -f1; echo "$stub"; } | sha256sum | cut -c1-16)
image=$cache/stock-host-$image_key.ext4

tmp=
cleanup() { [ -z "$tmp" ] || rm -rf --one-file-system "$tmp"; }
trap cleanup EXIT
if [ ! -f "$rootfs" ]; then
  tmp=$(mktemp -d "$cache/.stock-host-XXXXXX")
  say "building the guest rootfs $rootfs (mmdebstrap, once per package list)"
  start=$(date +%s)
  mmdebstrap --quiet --variant=minbase --mode=root --format=tar --include="$(IFS=,; echo "${packages[*]}")" bookworm "$tmp/rootfs.tar" http://deb.debian.org/debian
  mv "$tmp/rootfs.tar" "$rootfs"
  find "$cache" -maxdepth 1 -name 'stock-host-rootfs-*.tar' ! -name "${rootfs##*/}" -delete
  say "rootfs built in $(( $(date +%s) - start )) s"
fi
if [ ! -f "$image" ]; then
  [ -n "$tmp" ] || tmp=$(mktemp -d "$cache/.stock-host-XXXXXX")
  say "making the guest disk image $image"
  mkdir "$tmp/root"
  tar -C "$tmp/root" -xf "$rootfs"
  mkdir -p "$tmp/root/lib/modules"
  cp -a "/lib/modules/$kver" "$tmp/root/lib/modules/"
  install -m 0755 "$node_bin" "$tmp/root/usr/bin/node"
  printf '%s\n' "$stub" > "$tmp/root/sbin/airlock-stock-init" && chmod 0755 "$tmp/root/sbin/airlock-stock-init"
  mkfs.ext4 -q -F -L stock-host -E lazy_itable_init=1,nodiscard -d "$tmp/root" "$tmp/image.ext4" 6G
  mv "$tmp/image.ext4" "$image"
  find "$cache" -maxdepth 1 -name 'stock-host-*.ext4' ! -name "${image##*/}" -delete
fi
cleanup; tmp=; trap - EXIT

exec node packages/testkit/dist/stock-host/main.js --image "$image" --kernel "$kernel" --initrd "$initrd" --tree "$PWD" "$@"
