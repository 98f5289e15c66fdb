/**
 * @module oci-spec
 * Builds the OCI runtime spec (config.json) of a sandbox. The agent is PID 1; the process runs with
 * no new privileges, a small capability set, a default-deny seccomp profile, masked /proc paths and
 * the sandbox's cgroup limits.
 * runc additionally gets a user namespace whose host uid range belongs to this sandbox alone.
 */
import { tmpfsInodes, type OciMount } from '../images/image.js';
import type { RootfsSpec } from './runtime.js';
import type { OciSeccomp } from './seccomp-profile.js';

export const AGENT_PATH_IN_SANDBOX = '/.airlock/agent';
export const STATX_COMPAT_IN_SANDBOX = '/.airlock/statx-compat.so';

/** Host uids/gids given to sandbox slot n: [BASE + n·SIZE, BASE + (n+1)·SIZE). Root inside is never root outside. */
export const ID_RANGE_BASE = 1_000_000;
export const ID_RANGE_SIZE = 65_536;

export interface SpecInput {
  id: string;
  rootfs: RootfsSpec;
  agentBinary: string;
  /** Mounts the runtime adds (after the image's). */
  extraMounts: OciMount[];
  cgroupsPath: string;
  cpu: number;
  /** The host memory cgroup's limit (the guest's limit plus any runtime overhead). */
  memoryMiB: number;
  /** Size of /dev/shm: the guest's own memory limit. */
  shmMiB: number;
  /** The host pids cgroup's limit. */
  pids: number;
  /** Limits the agent enforces inside, where the host cannot (gVisor); null: the host's limits are the guest's. */
  guestLimits: { pids: number; memoryMiB: number } | null;
  /** Host id range for a user namespace; undefined = no user namespace (gVisor has its own boundary). */
  userNamespace: { base: number; size: number } | undefined;
  /** A network namespace to join; undefined: a new, empty one (loopback only). */
  netnsPath: string | undefined;
  seccomp: OciSeccomp;
  /** The capability set; CAPABILITIES unless a test-only weakened runtime widens it. */
  capabilities?: readonly string[] | undefined;
}

/**
 * The only capabilities a sandbox's root holds (all others are dropped from every set). Each is
 * namespaced on runc (user namespace) and virtual on gVisor. Why each one:
 *   CHOWN, FOWNER, FSETID  the agent writes files for the exec's user and gives them to that user
 *   DAC_OVERRIDE           root inside may read and write the sandbox's own files whatever their mode
 *   SETUID, SETGID         the agent starts processes as `user` (and whichever uid the exec names)
 *   KILL                   the agent signals and kills processes of any uid in the sandbox
 * Dropped from Docker's default set: NET_RAW, MKNOD, SETFCAP, SETPCAP, SYS_CHROOT, AUDIT_WRITE,
 * NET_BIND_SERVICE (there is no network to bind to).
 */
export const CAPABILITIES: readonly string[] = ['CAP_CHOWN', 'CAP_DAC_OVERRIDE', 'CAP_FOWNER', 'CAP_FSETID', 'CAP_KILL', 'CAP_SETGID', 'CAP_SETUID'];

/** Kernel files a sandbox must not read; bwrap masks the /proc ones the same way. */
export const MASKED_PATHS: readonly string[] = [
  '/proc/acpi',
  '/proc/asound',
  '/proc/kcore',
  '/proc/keys',
  '/proc/latency_stats',
  '/proc/timer_list',
  '/proc/timer_stats',
  '/proc/sched_debug',
  '/proc/scsi',
  '/sys/firmware',
  '/sys/devices/virtual/powercap',
  '/sys/kernel/security',
  '/proc/kallsyms',
  '/proc/config.gz',
];

const READONLY_PATHS = ['/proc/bus', '/proc/fs', '/proc/irq', '/proc/sys', '/proc/sysrq-trigger'];

export function buildSpec(input: SpecInput): Record<string, unknown> {
  const memoryBytes = input.memoryMiB * 1024 * 1024;
  const caps = input.capabilities ?? CAPABILITIES;
  const period = 100_000;
  const namespaces: { type: string; path?: string }[] = [
    { type: 'pid' },
    { type: 'ipc' },
    { type: 'uts' },
    { type: 'mount' },
    input.netnsPath === undefined ? { type: 'network' } : { type: 'network', path: input.netnsPath },
  ];
  const linux: Record<string, unknown> = {
    namespaces,
    cgroupsPath: input.cgroupsPath,
    resources: {
      memory: { limit: memoryBytes, swap: memoryBytes },
      cpu: { quota: Math.max(1000, Math.round(input.cpu * period)), period },
      pids: { limit: input.pids },
    },
    maskedPaths: [...MASKED_PATHS],
    seccomp: input.seccomp,
    readonlyPaths: READONLY_PATHS,
  };
  if (input.userNamespace !== undefined) {
    const { base: hostID, size } = input.userNamespace;
    namespaces.push({ type: 'user' }, { type: 'cgroup' });
    linux.uidMappings = [{ containerID: 0, hostID, size }];
    linux.gidMappings = [{ containerID: 0, hostID, size }];
  }
  return {
    ociVersion: '1.0.2',
    process: {
      terminal: false,
      user: { uid: 0, gid: 0 },
      args: [AGENT_PATH_IN_SANDBOX],
      env: [
        'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
        // Limits the agent enforces inside the sandbox where the host's cgroup cannot (gVisor).
        ...(input.guestLimits === null ? [] : [`AIRLOCK_GUEST_PIDS=${input.guestLimits.pids}`, `AIRLOCK_GUEST_MEMORY_MIB=${input.guestLimits.memoryMiB}`]),
      ],
      cwd: '/',
      capabilities: { bounding: [...caps], effective: [...caps], permitted: [...caps] },
      noNewPrivileges: true,
    },
    root: { path: input.rootfs.path, readonly: input.rootfs.readonly },
    hostname: 'sandbox',
    mounts: [
      { destination: '/proc', type: 'proc', source: 'proc', options: ['nosuid', 'noexec', 'nodev'] },
      { destination: '/dev', type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'strictatime', 'mode=755', 'size=65536k', 'nr_inodes=1024'] },
      { destination: '/dev/pts', type: 'devpts', source: 'devpts', options: ['nosuid', 'noexec', 'newinstance', 'ptmxmode=0666', 'mode=0620'] },
      {
        destination: '/dev/shm',
        type: 'tmpfs',
        source: 'shm',
        options: ['nosuid', 'noexec', 'nodev', 'mode=1777', `size=${input.shmMiB}m`, `nr_inodes=${tmpfsInodes(input.shmMiB)}`],
      },
      { destination: '/dev/mqueue', type: 'mqueue', source: 'mqueue', options: ['nosuid', 'noexec', 'nodev'] },
      // The kernel mounts sysfs only for a user namespace that owns the network namespace; one we
      // prepared on the host (its network) is owned by the host's, so such a sandbox gets an empty /sys.
      input.netnsPath !== undefined && input.userNamespace !== undefined
        ? { destination: '/sys', type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'noexec', 'nodev', 'ro', 'size=4k', 'mode=555'] }
        : { destination: '/sys', type: 'sysfs', source: 'sysfs', options: ['nosuid', 'noexec', 'nodev', 'ro'] },
      ...input.rootfs.mounts,
      { destination: AGENT_PATH_IN_SANDBOX, type: 'bind', source: input.agentBinary, options: ['bind', 'ro', 'nosuid', 'nodev'] },
      ...input.extraMounts,
    ],
    linux,
  };
}
