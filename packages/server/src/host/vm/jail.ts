/**
 * @module jail
 * The command line that confines one microVM's QEMU, after Firecracker's jailer. Pure: argv only.
 *
 * A root-owned launcher (sh) joins the sandbox's cgroup (memory = guest RAM + QEMU's overhead, CPU,
 * host tasks), starts the virtiofsd that serves the root (when the rootfs is a directory), enters the
 * sandbox's network namespace if it has one, then execs QEMU through:
 *   setpriv   the sandbox's own unprivileged host uid and gid (its slot's range base), no
 *             supplementary groups, no capabilities (inheritable, ambient or bounding), no_new_privs;
 *   bwrap     new user, mount, pid, ipc, uts and cgroup namespaces (and an empty network namespace
 *             when the sandbox has none), no further user namespaces, a new session, death with its
 *             parent (the shim), and a root made of read-only /usr and the VM's own directory only:
 *             no host /etc but the loader cache, no /home, /root, /var, data dir or other VM;
 *   QEMU      `-sandbox on` (its seccomp filter: no spawn, no privilege change, no obsolete or
 *             resource-control calls).
 *
 * virtiofsd runs as root (it must read the image on the host's behalf) but in a mount namespace of
 * its own where the shared tree and every bind under it are read-only, with its own sandbox (pid,
 * net and mount namespaces, pivot_root into the shared tree, its seccomp filter) and without the
 * capabilities a writer needs.
 */

export interface VirtiofsInput {
  /** The root directory shared with the guest. */
  root: string;
  /** Host directories bound read-only under the root (destination inside the root). */
  binds: { source: string; destination: string }[];
  socket: string;
}

export interface JailInput {
  id: string;
  hostUid: number;
  cgroupProcs: string[];
  /** Host directory of this VM (owned by hostUid, 0700): sockets and disks; /vm inside the jail. */
  vmDir: string;
  /** Read-only files QEMU needs (kernel, initramfs), and where it sees them. */
  files: { source: string; destination: string }[];
  virtiofs?: VirtiofsInput;
  /** The sandbox's network namespace, or none: an empty one of QEMU's own. */
  netnsPath?: string;
  kvm: boolean;
  /** QEMU's argv, with paths as seen inside the jail. */
  qemu: string[];
}

/** Where the VM's directory appears inside the jail. */
export const JAIL_VM_DIR = '/vm';

// virtiofsd's private mount namespace: the root and every bind read-only, then virtiofsd.
const VIRTIOFS_SETUP = [
  'set -e',
  'root=$1; binds=$2; sock=$3',
  'mount --bind "$root" "$root"',
  'mount -o remount,bind,ro "$root"',
  // Tab-separated source and destination, one pair a line.
  'printf "%s\n" "$binds" | while IFS="\t" read -r src dst; do',
  '  [ -n "$src" ] || continue',
  '  mount --rbind "$src" "$root$dst"',
  '  mount -o remount,bind,ro "$root$dst"',
  'done',
  // Read-only service: none of the capabilities a writer needs; errors only, to nowhere (the guest could make it talk).
  'exec /usr/lib/qemu/virtiofsd --socket-path="$sock" -o source="$root" -o sandbox=namespace -o cache=always -o no_posix_lock -o no_flock -o no_xattr -o log_level=err ' +
    '-o modcaps=-chown:-fowner:-fsetid:-setgid:-setuid:-mknod:-setfcap </dev/null >/dev/null 2>&1',
].join('\n');

// The launcher. Arguments: uid, count of cgroup.procs files, the files, virtiofs root, binds, socket
// (root empty: none), netns path (empty: none), then the jailed command.
const LAUNCHER = [
  'set -e',
  'uid=$1; n=$2; shift 2',
  'while [ "$n" -gt 0 ]; do echo $$ > "$1"; shift; n=$((n - 1)); done',
  'fsroot=$1; fsbinds=$2; fssock=$3; netns=$4; shift 4',
  'if [ -n "$fsroot" ]; then',
  `  unshare --mount --propagation private /bin/sh -c '${VIRTIOFS_SETUP.replaceAll("'", `'"'"'`)}' virtiofs "$fsroot" "$fsbinds" "$fssock" &`,
  '  i=0',
  '  until [ -S "$fssock" ]; do',
  '    i=$((i + 1)); [ "$i" -lt 1000 ] || { echo "virtiofsd did not start" >&2; exit 1; }',
  '    sleep 0.01',
  '  done',
  // virtiofsd makes its socket 0600: QEMU connects as the sandbox's uid.
  '  chown "$uid:$uid" "$fssock"',
  'fi',
  'set -- setpriv --reuid="$uid" --regid="$uid" --clear-groups --inh-caps=-all --ambient-caps=-all --bounding-set=-all --no-new-privs -- "$@"',
  'if [ -n "$netns" ]; then exec nsenter --net="$netns" -- "$@"; fi',
  'exec "$@"',
].join('\n');

const PATH_OK = /^\/[^\t\n\0]*$/;

export function jailArgv(j: JailInput): string[] {
  for (const p of [
    j.vmDir,
    ...j.files.flatMap((f) => [f.source, f.destination]),
    ...(j.virtiofs ? [j.virtiofs.root, j.virtiofs.socket, ...j.virtiofs.binds.flatMap((b) => [b.source, b.destination])] : []),
  ]) {
    if (!PATH_OK.test(p)) throw new Error(`path ${JSON.stringify(p)} cannot be passed to the VM launcher`);
  }
  const bwrap = [
    'bwrap',
    '--unshare-user',
    '--unshare-pid',
    '--unshare-ipc',
    '--unshare-uts',
    '--unshare-cgroup',
    ...(j.netnsPath ? [] : ['--unshare-net']),
    '--disable-userns',
    '--new-session',
    '--die-with-parent',
    '--ro-bind',
    '/usr',
    '/usr',
    '--symlink',
    'usr/lib',
    '/lib',
    '--symlink',
    'usr/lib64',
    '/lib64',
    '--symlink',
    'usr/bin',
    '/bin',
    '--ro-bind-try',
    '/etc/ld.so.cache',
    '/etc/ld.so.cache',
    '--dev',
    '/dev',
    ...(j.kvm ? ['--dev-bind', '/dev/kvm', '/dev/kvm'] : []),
    ...(j.netnsPath ? ['--dev-bind', '/dev/net/tun', '/dev/net/tun'] : []),
    '--proc',
    '/proc',
    ...j.files.flatMap((f) => ['--ro-bind', f.source, f.destination]),
    '--bind',
    j.vmDir,
    JAIL_VM_DIR,
    '--chdir',
    JAIL_VM_DIR,
    '--clearenv',
    '--setenv',
    'AIRLOCK_SANDBOX_ID',
    j.id,
    '--',
    ...j.qemu,
  ];
  const fs = j.virtiofs;
  return [
    '/usr/bin/env',
    '-i',
    'PATH=/usr/sbin:/usr/bin:/sbin:/bin',
    '/bin/sh',
    '-c',
    LAUNCHER,
    'airlock-vm-launch',
    String(j.hostUid),
    String(j.cgroupProcs.length),
    ...j.cgroupProcs,
    fs?.root ?? '',
    fs ? fs.binds.map((b) => `${b.source}\t${b.destination}`).join('\n') : '',
    fs?.socket ?? '',
    j.netnsPath ?? '',
    ...bwrap,
  ];
}
