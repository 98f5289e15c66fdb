/**
 * @module cgroups
 * Reading the cgroups that runc/runsc create for a sandbox (cgroupsPath `/airlock/<id>`), on v1
 * (a hierarchy per controller) and v2 (one unified tree). The runtimes write the limits; we read
 * OOM counters and check that nothing of ours is left.
 */
import { existsSync, readFileSync, readdirSync, rmdirSync } from 'node:fs';
import { join } from 'node:path';

const ROOT = '/sys/fs/cgroup';
export const CGROUP_PARENT = 'airlock';
const V1_CONTROLLERS = ['memory', 'cpu', 'cpuacct', 'pids', 'cpuset', 'devices', 'freezer', 'blkio', 'systemd', 'net_cls', 'perf_event', 'hugetlb'];

export function cgroupVersion(): 1 | 2 {
  return existsSync(join(ROOT, 'cgroup.controllers')) ? 2 : 1;
}

export function cgroupsPath(id: string): string {
  return `/${CGROUP_PARENT}/${id}`;
}

/** Number of OOM kills recorded in the sandbox's memory cgroup, or undefined if it is gone. */
export function oomKills(id: string): number | undefined {
  const file =
    cgroupVersion() === 2 ? join(ROOT, CGROUP_PARENT, id, 'memory.events') : join(ROOT, 'memory', CGROUP_PARENT, id, 'memory.oom_control');
  try {
    const m = /^oom_kill (\d+)$/m.exec(readFileSync(file, 'utf8'));
    return m ? Number(m[1]) : 0;
  } catch {
    return undefined;
  }
}

/** Directories of a sandbox's cgroups that still exist (for cleanup and leak checks). */
export function sandboxCgroupDirs(id: string): string[] {
  const dirs = cgroupVersion() === 2 ? [join(ROOT, CGROUP_PARENT, id)] : V1_CONTROLLERS.map((c) => join(ROOT, c, CGROUP_PARENT, id));
  return dirs.filter((d) => existsSync(d));
}

/** Every sandbox id that has a cgroup under our parent, in any controller. */
export function listSandboxCgroups(): string[] {
  const parents = cgroupVersion() === 2 ? [join(ROOT, CGROUP_PARENT)] : V1_CONTROLLERS.map((c) => join(ROOT, c, CGROUP_PARENT));
  const ids = new Set<string>();
  for (const p of parents) {
    try {
      for (const e of readdirSync(p, { withFileTypes: true })) if (e.isDirectory()) ids.add(e.name);
    } catch {
      // controller not mounted or parent not created yet
    }
  }
  return [...ids];
}

/**
 * Removes a sandbox's empty cgroups. runc deletes them itself; runsc can leave some behind when
 * its sandbox was killed, so destroy always sweeps. rmdir fails on a non-empty cgroup, which is
 * what we want: a cgroup with live processes is never silently dropped.
 */
export function removeSandboxCgroups(id: string): string[] {
  const failed: string[] = [];
  for (const d of sandboxCgroupDirs(id)) {
    try {
      rmdirSync(d);
    } catch {
      failed.push(d);
    }
  }
  return failed;
}
