/**
 * @module oci-spec
 * Builds the OCI runtime spec (config.json) of a sandbox. The agent is PID 1; the process runs with
 * no new privileges, a small capability set, masked /proc paths and the sandbox's cgroup limits.
 * runc additionally gets a user namespace whose host uid range belongs to this sandbox alone.
 */
import type { OciMount, PreparedRootfs } from '../images/image.js';

export const AGENT_PATH_IN_SANDBOX = '/.airlock/agent';
export const STATX_COMPAT_IN_SANDBOX = '/.airlock/statx-compat.so';

/** Host uids/gids given to sandbox slot n: [BASE + n·SIZE, BASE + (n+1)·SIZE). Root inside is never root outside. */
export const ID_RANGE_BASE = 1_000_000;
export const ID_RANGE_SIZE = 65_536;

export interface SpecInput {
  id: string;
  rootfs: PreparedRootfs;
  agentBinary: string;
  /** Mounts the runtime adds (after the image's). */
  extraMounts: OciMount[];
  cgroupsPath: string;
  cpu: number;
  memoryMiB: number;
  pids: number;
  /** Host id range for a user namespace; undefined = no user namespace (gVisor has its own boundary). */
  userNamespaceSlot: number | undefined;
}

// Docker's default set without NET_RAW and MKNOD: enough for the agent to switch users and own files.
const CAPABILITIES = [
  'CAP_CHOWN',
  'CAP_DAC_OVERRIDE',
  'CAP_FSETID',
  'CAP_FOWNER',
  'CAP_SETGID',
  'CAP_SETUID',
  'CAP_SETFCAP',
  'CAP_SETPCAP',
  'CAP_NET_BIND_SERVICE',
  'CAP_SYS_CHROOT',
  'CAP_KILL',
  'CAP_AUDIT_WRITE',
];

const MASKED_PATHS = [
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
];

const READONLY_PATHS = ['/proc/bus', '/proc/fs', '/proc/irq', '/proc/sys', '/proc/sysrq-trigger'];

export function buildSpec(input: SpecInput): Record<string, unknown> {
  const memoryBytes = input.memoryMiB * 1024 * 1024;
  const period = 100_000;
  const namespaces: { type: string }[] = [{ type: 'pid' }, { type: 'ipc' }, { type: 'uts' }, { type: 'mount' }, { type: 'network' }];
  const linux: Record<string, unknown> = {
    namespaces,
    cgroupsPath: input.cgroupsPath,
    resources: {
      memory: { limit: memoryBytes, swap: memoryBytes },
      cpu: { quota: Math.max(1000, Math.round(input.cpu * period)), period },
      pids: { limit: input.pids },
    },
    maskedPaths: MASKED_PATHS,
    readonlyPaths: READONLY_PATHS,
  };
  if (input.userNamespaceSlot !== undefined) {
    const hostID = ID_RANGE_BASE + input.userNamespaceSlot * ID_RANGE_SIZE;
    namespaces.push({ type: 'user' }, { type: 'cgroup' });
    linux.uidMappings = [{ containerID: 0, hostID, size: ID_RANGE_SIZE }];
    linux.gidMappings = [{ containerID: 0, hostID, size: ID_RANGE_SIZE }];
  }
  return {
    ociVersion: '1.0.2',
    process: {
      terminal: false,
      user: { uid: 0, gid: 0 },
      args: [AGENT_PATH_IN_SANDBOX],
      env: ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'],
      cwd: '/',
      capabilities: { bounding: CAPABILITIES, effective: CAPABILITIES, permitted: CAPABILITIES },
      noNewPrivileges: true,
    },
    root: { path: input.rootfs.rootfs, readonly: input.rootfs.readonly },
    hostname: 'sandbox',
    mounts: [
      { destination: '/proc', type: 'proc', source: 'proc', options: ['nosuid', 'noexec', 'nodev'] },
      { destination: '/dev', type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'strictatime', 'mode=755', 'size=65536k'] },
      { destination: '/dev/pts', type: 'devpts', source: 'devpts', options: ['nosuid', 'noexec', 'newinstance', 'ptmxmode=0666', 'mode=0620'] },
      { destination: '/dev/shm', type: 'tmpfs', source: 'shm', options: ['nosuid', 'noexec', 'nodev', 'mode=1777', `size=${input.memoryMiB}m`] },
      { destination: '/dev/mqueue', type: 'mqueue', source: 'mqueue', options: ['nosuid', 'noexec', 'nodev'] },
      { destination: '/sys', type: 'sysfs', source: 'sysfs', options: ['nosuid', 'noexec', 'nodev', 'ro'] },
      ...input.rootfs.mounts,
      { destination: AGENT_PATH_IN_SANDBOX, type: 'bind', source: input.agentBinary, options: ['bind', 'ro', 'nosuid', 'nodev'] },
      ...input.extraMounts,
    ],
    linux,
  };
}
