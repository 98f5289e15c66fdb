/**
 * @module enforced-limits
 * What each runtime really enforces for the limits a sandbox asks for, and where.
 *
 * runc and bwrap: the sandbox's processes are host processes in its cgroups, so the host's memory,
 * CPU and pids limits are the guest's.
 *
 * gVisor: the host sees the sentry, not the guest's processes. Its host tasks (about 52 idle, then
 * about 15 per guest process on the ptrace platform) count against the host pids cgroup, and a
 * host limit hit there kills the sentry and with it the whole sandbox. So the host pids limit is a
 * fork-bomb guard sized for the guest's limit, and the guest's limit itself is enforced inside by
 * the agent: RLIMIT_NPROC on every process it starts, which gVisor's kernel enforces per uid (a
 * guest pids cgroup is not available to the agent: gVisor mounts only cpu and memory controllers).
 * The sentry's own memory counts against the host memory cgroup too: it gets headroom above the
 * guest's limit.
 */
import type { EnforcedLimits, RuntimeSpec } from './runtime.js';

type Asked = Pick<RuntimeSpec, 'cpu' | 'memoryMiB' | 'pids'>;

export function hostLimits(spec: Asked): EnforcedLimits {
  return { pids: spec.pids, hostPids: spec.pids, memoryMiB: spec.memoryMiB, memoryOverheadMiB: 0, cpu: spec.cpu };
}

/** Host tasks of an idle gVisor sandbox, and per guest process (measured on this platform, with margin). */
const GVISOR_BASE_TASKS = 128;
const GVISOR_TASKS_PER_PROCESS = 20;

export function gvisorLimits(spec: Asked): EnforcedLimits {
  return {
    pids: spec.pids,
    hostPids: GVISOR_BASE_TASKS + GVISOR_TASKS_PER_PROCESS * spec.pids,
    memoryMiB: spec.memoryMiB,
    memoryOverheadMiB: 64 + Math.ceil(spec.memoryMiB / 8),
    cpu: spec.cpu,
  };
}
