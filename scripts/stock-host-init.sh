#!/bin/sh
# PID 1 of the stock-host guest (scripts/stock-host.sh), reached through the image's stub, which has
# mounted proc, sys, dev and the host's scratch at /scratch. What matters about a stock Debian 12
# host is the unified cgroup v2 hierarchy with every controller, and that services run in leaf
# cgroups below it (as systemd puts them); not systemd itself. So: mount what a booted system has,
# cgroup2 alone, PID 1 in /init.scope and the test run in /system.slice/airlock-stock-host.service,
# the project tree read-only from the host, run /scratch/run.sh, write its exit code next to it and
# power off.
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
say() { echo "stock-init: $*" > /dev/console; }
off() { sync; echo o > /proc/sysrq-trigger; sleep 30; exit 1; }
fail() { echo "STOCK-HOST-INIT-FAILED: $*" > /dev/console; echo "$*" > /scratch/init-failed; off; }

mkdir -p /dev/pts /dev/shm
mount -t devpts -o nosuid,noexec,gid=5,mode=620,ptmxmode=000 devpts /dev/pts
mount -t tmpfs -o nosuid,nodev,mode=1777 tmpfs /dev/shm
mount -t tmpfs -o nosuid,nodev,mode=0755,size=20% tmpfs /run
mount -o remount,rw / || fail "cannot remount / read-write"
rm -rf /tmp/* 2>/dev/null

# cgroup v2 only (the kernel has cgroup_no_v1=all): the one hierarchy, where systemd mounts it, with
# systemd's mount options.
mount -t cgroup2 -o nosuid,nodev,noexec,nsdelegate,memory_recursiveprot cgroup2 /sys/fs/cgroup || fail "cannot mount cgroup2"
[ -e /sys/fs/cgroup/cgroup.controllers ] || fail "no cgroup2 at /sys/fs/cgroup"
grep -q ' cgroup ' /proc/mounts && fail "a cgroup v1 hierarchy is mounted"
ctl=$(cat /sys/fs/cgroup/cgroup.controllers)
for c in $ctl; do echo "+$c" > /sys/fs/cgroup/cgroup.subtree_control 2>/dev/null || say "cannot delegate $c"; done
mkdir -p /sys/fs/cgroup/init.scope /sys/fs/cgroup/system.slice/airlock-stock-host.service
echo $$ > /sys/fs/cgroup/init.scope/cgroup.procs || fail "cannot move PID 1 to init.scope"
for c in $ctl; do echo "+$c" > /sys/fs/cgroup/system.slice/cgroup.subtree_control 2>/dev/null || true; done
say "cgroup2 controllers delegated: $(cat /sys/fs/cgroup/cgroup.subtree_control)"

hostname stock-host
ip link set lo up
# What a booted Debian has loaded or loads on demand (udev and systemd-modules-load are not here).
modprobe -a loop btrfs overlay veth nf_tables tun 2>/dev/null || say "some modules did not load"
tree=$(sed -n 's/.*airlock\.tree=\([^ ]*\).*/\1/p' /proc/cmdline)
[ -n "$tree" ] || fail "no airlock.tree= on the kernel command line"
mkdir -p "$tree"
mount -t virtiofs -o ro tree "$tree" || fail "cannot mount the project tree"
[ -f /scratch/run.sh ] || fail "no /scratch/run.sh"

say "running /scratch/run.sh"
# A shell of its own, so that $$ is the service's pid (in a subshell it would still be PID 1's).
/bin/sh -c 'echo $$ > /sys/fs/cgroup/system.slice/airlock-stock-host.service/cgroup.procs || exit 125; cd "$1" && exec /bin/bash /scratch/run.sh' service "$tree" \
  > /scratch/run.log 2>&1 < /dev/null
rc=$?
echo "$rc" > /scratch/exit-code.tmp && mv /scratch/exit-code.tmp /scratch/exit-code
say "run.sh exited $rc"
echo "STOCK-HOST-DONE rc=$rc" > /dev/console
off
