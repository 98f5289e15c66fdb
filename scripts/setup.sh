#!/usr/bin/env bash
# Installs everything Airlock needs on Debian 12, idempotently: Debian packages (the runtimes and a C
# toolchain for the agent), npm dependencies, the static in-sandbox agent and the TypeScript build.
# Both README commands (`./airlock serve` and `npm test`) run it first.
set -euo pipefail
cd "$(dirname "$0")/.."

say() { printf 'airlock setup: %s\n' "$*" >&2; }

if [ "$(id -u)" != 0 ]; then
  say "must run as root: sandboxes are created with runc/runsc, cgroups and user namespaces, which need root."
  say "re-run with sudo (or as root)."
  exit 1
fi

if ! command -v node >/dev/null || [ "$(node -p 'process.versions.node.split(".")[0]')" -lt 20 ]; then
  say "Node.js 20 or newer is required (found: $(node --version 2>/dev/null || echo none))."
  exit 1
fi

# runc, runsc and bubblewrap are the isolation runtimes; gcc + libc6-dev build the static agent;
# libseccomp-dev builds the seccomp compiler for bubblewrap; golang-github-containers-common ships the
# docker-style seccomp profile our own is generated from; util-linux has setpriv; g++/make/python3
# build better-sqlite3 if no prebuilt binary is reachable; python3 is also in the default image.
# btrfs-progs makes the image store's volume (snapshots + quotas), zstd unpacks zstd layers.
# clang-14 + libclang-rt-14-dev (libFuzzer and the sanitizer runtimes) build the native fuzzers.
# The tests and the benchmark add a loopback registry, mmdebstrap for the fixture image, and
# skopeo + umoci as the baseline that image pulls are compared with.
# Sandbox networks: iproute2 (netns, veth, tc), nftables (the egress policy), conntrack (an update
# ends flows the new policy no longer allows). Image builds read extended attributes with attr's
# getfattr and unpack ADD archives with bzip2/xz; buildah is what the build tests and the benchmark
# compare Airlock's builder with. microVMs: qemu-system-x86 (QEMU and virtiofsd), linux-image-cloud-amd64
# (the guest kernel in /boot and its modules); cpio checks the initramfs writer in the tests.
# chromium is the real browser the dashboard's test drives (playwright-core, no browser download).
packages=(runc runsc bubblewrap gcc libc6-dev libseccomp-dev golang-github-containers-common util-linux make g++ python3 procps
  btrfs-progs zstd docker-registry mmdebstrap skopeo umoci clang-14 libclang-rt-14-dev iproute2 nftables conntrack attr bzip2 xz-utils buildah qemu-system-x86 linux-image-cloud-amd64 cpio chromium)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
  say "installing Debian packages: ${missing[*]}"
  if ! command -v apt-get >/dev/null; then
    say "apt-get not found: install these packages by hand: ${missing[*]}"
    exit 1
  fi
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  # Debian starts the registry package as a service on :5000; the tests start their own on
  # loopback, so a registry that setup just installed is not left serving on the host.
  if [[ " ${missing[*]} " == *" docker-registry "* ]] && command -v systemctl >/dev/null && systemctl is-enabled docker-registry >/dev/null 2>&1; then
    systemctl disable --now docker-registry >/dev/null 2>&1 || true
  fi
fi

if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  say "installing npm dependencies"
  npm ci --no-audit --no-fund --loglevel=error
fi

make -s -C packages/agent/native
npx tsc -b
# The dashboard's bundle (Preact, xterm.js), served by the server at /ui.
npm run -s build -w @airlock/dashboard
