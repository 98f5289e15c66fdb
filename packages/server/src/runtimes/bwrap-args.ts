/**
 * @module bwrap-args
 * The command line of a bubblewrap sandbox: a root-owned launcher (sh) that joins the sandbox's
 * cgroups, opens the compiled seccomp program on fd 9 (dash takes one digit) and execs, through setpriv, bwrap as the
 * sandbox's own unprivileged host uid. bwrap started as root would keep host uid 0 whatever --uid
 * says (platform notes), so root never reaches it. Pure: building argv only.
 */
import type { OciMount } from '../images/image.js';
import { AGENT_PATH_IN_SANDBOX } from './oci-spec.js';
import type { RootfsSpec } from './runtime.js';

/** The uid every process of a bubblewrap sandbox has inside: one host uid is mapped, to `user`. */
export const BWRAP_SANDBOX_UID = 1000;

export interface BwrapInput {
  id: string;
  rootfs: RootfsSpec;
  agentBinary: string;
  /** The host uid (and gid) the sandbox runs as: unprivileged and owned by this sandbox alone. */
  hostUid: number;
  /** cgroup.procs files the launcher joins before exec. */
  cgroupProcs: string[];
  seccompBpf: string;
  memoryMiB: number;
  /** /proc entries to hide (those present on this kernel): files get /dev/null, directories an empty read-only tmpfs. */
  procMasks: { path: string; dir: boolean }[];
  /**
   * A prepared network namespace to run in. bwrap cannot join one by path, so the launcher is
   * started inside it (nsenter, as root, before anything else) and bwrap keeps it (--share-net).
   */
  netnsPath?: string;
}

// The launcher. $$ stays the same pid through both execs, so bwrap and everything it forks start
// inside the cgroups. Arguments: uid, BPF file, count of cgroup.procs files, the files, then bwrap's argv.
const LAUNCHER = [
  'set -e',
  'uid=$1; bpf=$2; n=$3; shift 3',
  'while [ "$n" -gt 0 ]; do echo $$ > "$1"; shift; n=$((n - 1)); done',
  'exec 9<"$bpf"',
  'exec setpriv --reuid="$uid" --regid="$uid" --clear-groups --inh-caps=-all --bounding-set=-all --no-new-privs -- "$@"',
].join('\n');

export function bwrapArgv(input: BwrapInput): string[] {
  const bwrap = [
    'bwrap',
    // A new user (with no further user namespaces), pid, ipc, uts, net and cgroup namespace.
    '--unshare-all',
    ...(input.netnsPath === undefined ? [] : ['--share-net']),
    '--unshare-user',
    '--disable-userns',
    '--uid',
    String(BWRAP_SANDBOX_UID),
    '--gid',
    String(BWRAP_SANDBOX_UID),
    '--hostname',
    'sandbox',
    // No terminal to inject keystrokes into (CVE-2017-5226); the sandbox dies with its shim.
    '--new-session',
    '--die-with-parent',
    // The agent is PID 1 and reaps, as in the other runtimes.
    '--as-pid-1',
    '--seccomp',
    '9',
    '--clearenv',
    '--setenv',
    'PATH',
    '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
    // Names the sandbox in the host's process list (leak checks find bwrap by it).
    '--setenv',
    'AIRLOCK_SANDBOX_ID',
    input.id,
    input.rootfs.readonly ? '--ro-bind' : '--bind',
    input.rootfs.path,
    '/',
    '--proc',
    '/proc',
    ...input.procMasks.flatMap((m) => (m.dir ? ['--perms', '0555', '--tmpfs', m.path, '--remount-ro', m.path] : ['--ro-bind', '/dev/null', m.path])),
    '--dev',
    '/dev',
    '--perms',
    '1777',
    '--size',
    String(input.memoryMiB * 1024 * 1024),
    '--tmpfs',
    '/dev/shm',
    ...input.rootfs.mounts.flatMap((m) => mountArgs(m, input.memoryMiB)),
    '--ro-bind',
    input.agentBinary,
    AGENT_PATH_IN_SANDBOX,
    '--chdir',
    '/',
    AGENT_PATH_IN_SANDBOX,
  ];
  return [
    ...(input.netnsPath === undefined ? [] : ['/usr/bin/nsenter', `--net=${input.netnsPath}`, '--']),
    '/usr/bin/env',
    '-i',
    'PATH=/usr/sbin:/usr/bin:/sbin:/bin',
    '/bin/sh',
    '-c',
    LAUNCHER,
    'airlock-bwrap-launch',
    String(input.hostUid),
    input.seccompBpf,
    String(input.cgroupProcs.length),
    ...input.cgroupProcs,
    ...bwrap,
  ];
}

export class UnsupportedMountError extends Error {
  override readonly name = 'UnsupportedMountError';
}

/** An image mount as bwrap options. bwrap mounts binds nosuid and nodev already. */
function mountArgs(m: OciMount, memoryMiB: number): string[] {
  const opts = m.options ?? [];
  if (m.type === 'bind') return [opts.includes('ro') ? '--ro-bind' : '--bind', m.source, m.destination];
  if (m.type === 'tmpfs') {
    const mode = opts.find((o) => o.startsWith('mode='))?.slice(5) ?? '755';
    const size = opts.find((o) => o.startsWith('size='))?.slice(5);
    const bytes = size ? sizeBytes(size) : memoryMiB * 1024 * 1024;
    return [
      '--perms',
      mode.padStart(4, '0'),
      '--size',
      String(bytes),
      '--tmpfs',
      m.destination,
      ...(opts.includes('ro') ? ['--remount-ro', m.destination] : []),
    ];
  }
  throw new UnsupportedMountError(`bwrap cannot mount ${m.type} at ${m.destination}: only the default image is supported`);
}

function sizeBytes(size: string): number {
  const m = /^(\d+)([kmg]?)$/i.exec(size);
  if (!m) throw new UnsupportedMountError(`tmpfs size ${size} is not understood`);
  const unit = { '': 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3 }[m[2]!.toLowerCase() as '' | 'k' | 'm' | 'g'];
  return Number(m[1]) * unit;
}
