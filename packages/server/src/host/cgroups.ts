/**
 * @module cgroups
 * The cgroups of a sandbox (cgroupsPath `/airlock/<id>`), on v1 (a hierarchy per controller) and v2
 * (one unified tree). runc and runsc create them and write the limits themselves; for bubblewrap we
 * create them here and its launcher joins them before exec. We read OOM counters and check that
 * nothing of ours is left.
 */
import { existsSync, mkdirSync, readFileSync, readdirSync, rmdirSync, writeFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';

const ROOT = '/sys/fs/cgroup';
export const CGROUP_PARENT = 'airlock';
const V1_CONTROLLERS = ['memory', 'cpu', 'cpuacct', 'pids', 'cpuset', 'devices', 'freezer', 'blkio', 'systemd', 'net_cls', 'perf_event', 'hugetlb'];

export function cgroupVersion(): 1 | 2 {
  return existsSync(join(ROOT, 'cgroup.controllers')) ? 2 : 1;
}

export function cgroupsPath(id: string): string {
  return `/${CGROUP_PARENT}/${id}`;
}

function oomFile(id: string): string {
  return cgroupVersion() === 2 ? join(ROOT, CGROUP_PARENT, id, 'memory.events') : join(ROOT, 'memory', CGROUP_PARENT, id, 'memory.oom_control');
}

/** Number of OOM kills recorded in the sandbox's memory cgroup, or undefined if it is gone. */
export async function readOomKills(id: string): Promise<number | undefined> {
  try {
    const m = /^oom_kill (\d+)$/m.exec(await readFile(oomFile(id), 'utf8'));
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

export interface CgroupLimits {
  memoryBytes: number;
  /** CPU time per period, in microseconds. */
  cpuQuotaUs: number;
  cpuPeriodUs: number;
  pids: number;
}

/**
 * Creates the sandbox's cgroups with its limits (memory with swap equal to it, CPU quota, pids) and
 * returns the cgroup.procs files a launcher writes its own pid to before it execs the sandbox.
 */
export function createSandboxCgroups(id: string, limits: CgroupLimits): string[] {
  const write = (path: string, value: string | number) => writeFileSync(path, String(value));
  if (cgroupVersion() === 2) {
    // Controllers must be enabled on every parent for the leaf to get its files.
    for (const dir of [ROOT, join(ROOT, CGROUP_PARENT)]) {
      mkdirSync(dir, { recursive: true });
      write(join(dir, 'cgroup.subtree_control'), '+memory +cpu +pids');
    }
    const dir = join(ROOT, CGROUP_PARENT, id);
    mkdirSync(dir);
    write(join(dir, 'memory.max'), limits.memoryBytes);
    if (existsSync(join(dir, 'memory.swap.max'))) write(join(dir, 'memory.swap.max'), 0);
    write(join(dir, 'cpu.max'), `${limits.cpuQuotaUs} ${limits.cpuPeriodUs}`);
    write(join(dir, 'pids.max'), limits.pids);
    return [join(dir, 'cgroup.procs')];
  }
  const dir = (ctl: string) => join(ROOT, ctl, CGROUP_PARENT, id);
  // cpuacct holds no limit, but it is where v1 counts the CPU time that stats report.
  const joined = ['memory', 'cpu', 'cpuacct', 'pids'].filter((ctl) => ctl !== 'cpuacct' || existsSync(join(ROOT, ctl)));
  for (const ctl of joined) mkdirSync(dir(ctl), { recursive: true });
  write(join(dir('memory'), 'memory.limit_in_bytes'), limits.memoryBytes);
  // memsw exists only with swap accounting; it must be set after the plain limit.
  if (existsSync(join(dir('memory'), 'memory.memsw.limit_in_bytes'))) write(join(dir('memory'), 'memory.memsw.limit_in_bytes'), limits.memoryBytes);
  write(join(dir('cpu'), 'cpu.cfs_period_us'), limits.cpuPeriodUs);
  write(join(dir('cpu'), 'cpu.cfs_quota_us'), limits.cpuQuotaUs);
  write(join(dir('pids'), 'pids.max'), limits.pids);
  return joined.map((ctl) => join(dir(ctl), 'cgroup.procs'));
}

/** Host pids in the sandbox's cgroup (every process of a bubblewrap sandbox, bwrap itself included). */
export function sandboxCgroupPids(id: string): number[] {
  const file = cgroupVersion() === 2 ? join(ROOT, CGROUP_PARENT, id, 'cgroup.procs') : join(ROOT, 'pids', CGROUP_PARENT, id, 'cgroup.procs');
  try {
    return readFileSync(file, 'utf8').split('\n').filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

/**
 * SIGKILLs every process in the sandbox's cgroup until it is empty (a process may fork while we
 * look). For runtimes whose processes all live there: bubblewrap, microVMs.
 */
export async function killSandboxCgroup(id: string): Promise<void> {
  for (let i = 0; i < 100; i++) {
    const pids = sandboxCgroupPids(id);
    if (pids.length === 0) return;
    for (const pid of pids) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
    await delay(20);
  }
}
