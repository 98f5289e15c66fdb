/**
 * @module host-probe
 * What the host can see of a sandbox: its containers, cgroups, shim, mounts and processes. Used to
 * check effects on the host rather than trusting what the sandbox says about itself.
 */
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { cgroupVersion, sandboxCgroupDir, sandboxCgroupDirs } from '@airlock/server/internal/host/cgroups.js';

export interface Remains {
  cgroups: string[];
  processes: { pid: number; cmd: string }[];
  mounts: string[];
  paths: string[];
}

/** A sleep whose argv[0] is `name` (run in a sandbox or on the host), so it can be found by name in /proc. */
export function renamedSleep(name: string, seconds: number): string[] {
  return ['python3', '-c', `import os; os.execv('/bin/sleep', ['${name}', '${seconds}'])`];
}

/** Everything of sandbox `id` (served from `dataDir`) still present on the host. */
export function remainsOf(id: string, dataDir: string): Remains {
  const processes = processesMatching((cmd) => cmd.includes(id));
  const mounts = readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .filter((l) => l.includes(id));
  const paths = ['runc', 'gvisor', 'bwrap', 'microvm']
    .flatMap((r) => [`${dataDir}/runtime/${r}/bundles/${id}`, `${dataDir}/runtime/${r}/sockets/${id}.sock`, `${dataDir}/runtime/${r}/state/${id}`])
    .concat([`${dataDir}/vm/${id}`])
    .filter((p) => existsSync(p));
  return { cgroups: sandboxCgroupDirs(id), processes, mounts, paths };
}

export function isClean(r: Remains): boolean {
  return r.cgroups.length === 0 && r.processes.length === 0 && r.mounts.length === 0 && r.paths.length === 0;
}

export function processesMatching(pred: (cmdline: string) => boolean): { pid: number; cmd: string }[] {
  const out: { pid: number; cmd: string }[] = [];
  for (const e of readdirSync('/proc')) {
    if (!/^\d+$/.test(e) || Number(e) === process.pid) continue;
    try {
      const cmd = readFileSync(`/proc/${e}/cmdline`, 'utf8').replaceAll('\0', ' ').trim();
      if (cmd && pred(cmd)) out.push({ pid: Number(e), cmd });
    } catch {
      // exited while we looked
    }
  }
  return out;
}

/** Host uid of a process, from /proc/<pid>/status. */
export function hostUid(pid: number): number {
  const m = /^Uid:\s+(\d+)/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  if (!m) throw new Error(`no Uid line for ${pid}`);
  return Number(m[1]);
}

/** The limits the kernel holds for a sandbox, read from its cgroups (v1 or v2). */
export function cgroupLimits(id: string): { memoryBytes: number; cpuQuotaPerPeriod: number; pids: number } {
  const read = (path: string) => readFileSync(path, 'utf8').trim();
  if (cgroupVersion() === 2) {
    const dir = sandboxCgroupDir(id, '');
    const [quota, period] = read(`${dir}/cpu.max`).split(' ').map(Number) as [number, number];
    return { memoryBytes: Number(read(`${dir}/memory.max`)), cpuQuotaPerPeriod: quota / period, pids: Number(read(`${dir}/pids.max`)) };
  }
  const at = (ctl: string, file: string) => read(`${sandboxCgroupDir(id, ctl)}/${file}`);
  return {
    memoryBytes: Number(at('memory', 'memory.limit_in_bytes')),
    cpuQuotaPerPeriod: Number(at('cpu', 'cpu.cfs_quota_us')) / Number(at('cpu', 'cpu.cfs_period_us')),
    pids: Number(at('pids', 'pids.max')),
  };
}

/**
 * A counter from a sandbox's cgroup, e.g. ('pids', 'pids.events', 'max') or ('cpu', 'cpu.stat',
 * 'nr_throttled'); undefined when the cgroup or the key is gone. v1 hierarchy per controller, or v2.
 */
export function cgroupCounter(id: string, controller: string, file: string, key: string): number | undefined {
  const path = `${sandboxCgroupDir(id, controller)}/${file}`;
  try {
    const text = readFileSync(path, 'utf8');
    const m = new RegExp(`^${key}\\s+(\\d+)$`, 'm').exec(text);
    return m ? Number(m[1]) : undefined;
  } catch {
    return undefined;
  }
}

/**
 * OOM kills counted in a sandbox's memory cgroup: `oom_kill` of memory.oom_control on v1, of
 * memory.events on v2 (which has no memory.oom_control); undefined when the cgroup is gone.
 */
export function cgroupOomKills(id: string): number | undefined {
  return cgroupVersion() === 2 ? cgroupCounter(id, 'memory', 'memory.events', 'oom_kill') : cgroupCounter(id, 'memory', 'memory.oom_control', 'oom_kill');
}

/** Resident memory of a host process in bytes (VmRSS), or undefined once it is gone. */
export function rssBytes(pid: number): number | undefined {
  try {
    const m = /^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) * 1024 : undefined;
  } catch {
    return undefined;
  }
}
