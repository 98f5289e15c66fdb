/**
 * @module cgroup-stats
 * Reads a sandbox's resource use from its cgroups (wherever host/cgroups.ts placed them), on v1 (a
 * hierarchy per controller, as on hybrid hosts) and v2 (the unified tree, as on Debian 12), and the
 * byte counters of a network link. Reads only: nothing here writes to the host.
 *
 *   field          v2                                  v1
 *   CPU time       cpu.stat usage_usec                 cpuacct/…/cpuacct.usage (ns)
 *   memory         memory.current − inactive_file      memory/…/memory.usage_in_bytes − total_inactive_file
 *   memory peak    memory.peak (kernel 5.19+)          memory/…/memory.max_usage_in_bytes
 *   memory limit   memory.max                          memory/…/memory.limit_in_bytes
 *   pids           pids.current / pids.max             pids/…/pids.current / pids.max
 *
 * Memory leaves out inactive file cache (as `docker stats` does): the kernel drops it under
 * pressure before it kills anything, so counting it would make an idle sandbox look full. Every file
 * is parsed strictly and bounded: a cgroup that vanished mid-read gives undefined, never a throw.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { cgroupVersion, sandboxCgroupDir } from './cgroups.js';

export interface CgroupSample {
  version: 1 | 2;
  /** Monotonic time of the read, ms (performance.now()). */
  atMs: number;
  cpuUsageNs: number;
  memoryBytes: number;
  memoryPeakBytes: number | null;
  memoryLimitBytes: number | null;
  pids: number;
  pidsLimit: number | null;
}

async function read(path: string): Promise<string | undefined> {
  try {
    const text = await readFile(path, 'utf8');
    return text.length > 64 * 1024 ? undefined : text;
  } catch {
    return undefined;
  }
}

/** A non-negative integer, or null for "max" (no limit) and the v1 "unlimited" value (≥ 2^62). */
function limit(text: string | undefined): number | null {
  const t = text?.trim();
  if (t === undefined || t === 'max') return null;
  const n = Number(t);
  return Number.isSafeInteger(n) && n >= 0 ? n : null;
}

function int(text: string | undefined): number | undefined {
  const t = text?.trim();
  if (t === undefined || !/^\d{1,20}$/.test(t)) return undefined;
  return Number(t);
}

/** `key value` lines (cpu.stat, memory.stat). */
function field(text: string | undefined, key: string): number | undefined {
  if (text === undefined) return undefined;
  const m = new RegExp(`^${key} (\\d{1,20})$`, 'm').exec(text);
  return m ? Number(m[1]) : undefined;
}

/** The sandbox's usage now, or undefined when its cgroups are gone (or never were ours). */
export async function readCgroupSample(id: string): Promise<CgroupSample | undefined> {
  const atMs = performance.now();
  if (cgroupVersion() === 2) {
    const dir = sandboxCgroupDir(id, '');
    const [cpu, current, peak, max, stat, pids, pidsMax] = await Promise.all(
      ['cpu.stat', 'memory.current', 'memory.peak', 'memory.max', 'memory.stat', 'pids.current', 'pids.max'].map((f) => read(join(dir, f))),
    );
    const usageUs = field(cpu, 'usage_usec');
    const mem = int(current);
    if (usageUs === undefined || mem === undefined) return undefined;
    return {
      version: 2,
      atMs,
      cpuUsageNs: usageUs * 1000,
      memoryBytes: Math.max(0, mem - (field(stat, 'inactive_file') ?? 0)),
      memoryPeakBytes: int(peak) ?? null,
      memoryLimitBytes: limit(max),
      pids: int(pids) ?? 0,
      pidsLimit: limit(pidsMax),
    };
  }
  const dir = (ctl: string) => sandboxCgroupDir(id, ctl);
  const [usage, current, peak, max, stat, pids, pidsMax] = await Promise.all([
    read(join(dir('cpuacct'), 'cpuacct.usage')),
    read(join(dir('memory'), 'memory.usage_in_bytes')),
    read(join(dir('memory'), 'memory.max_usage_in_bytes')),
    read(join(dir('memory'), 'memory.limit_in_bytes')),
    read(join(dir('memory'), 'memory.stat')),
    read(join(dir('pids'), 'pids.current')),
    read(join(dir('pids'), 'pids.max')),
  ]);
  const cpuNs = int(usage);
  const mem = int(current);
  if (cpuNs === undefined || mem === undefined) return undefined;
  const lim = limit(max);
  return {
    version: 1,
    atMs,
    cpuUsageNs: cpuNs,
    memoryBytes: Math.max(0, mem - (field(stat, 'total_inactive_file') ?? 0)),
    memoryPeakBytes: int(peak) ?? null,
    memoryLimitBytes: lim !== null && lim >= 2 ** 62 ? null : lim,
    pids: int(pids) ?? 0,
    pidsLimit: limit(pidsMax),
  };
}

/** Bytes through a host network link (the host end of a sandbox's veth), or undefined if it is gone. */
export async function readLinkBytes(link: string): Promise<{ rxBytes: number; txBytes: number } | undefined> {
  if (!/^[A-Za-z0-9_.-]{1,15}$/.test(link)) return undefined;
  const dir = join('/sys/class/net', link, 'statistics');
  const [rx, tx] = await Promise.all([read(join(dir, 'rx_bytes')), read(join(dir, 'tx_bytes'))]);
  const r = int(rx);
  const t = int(tx);
  return r === undefined || t === undefined ? undefined : { rxBytes: r, txBytes: t };
}
