/**
 * Density: many idle sandboxes at once. Host memory per sandbox (PSS of its processes, and the drop
 * of MemAvailable), the server's RSS at that count, and the CPU the idle sandboxes use.
 */
import { readFileSync } from 'node:fs';
import type { Airlock, Sandbox } from '@airlock/sdk';
import { memAvailableKiB } from './machine.js';
import { sandboxPids, sandboxPssKiB } from './memory.js';
import { summarize } from './stats.js';

export interface DensityResult {
  sandboxes: number;
  pssMiBMedian: number;
  hostProcessesPerSandbox: number;
  memAvailableDropMiBPerSandbox: number;
  serverRssMiBBefore: number;
  serverRssMiBAt: number;
  idleCpuPercentOfOneCore: number;
  createSeconds: number;
}

const CLOCK_TICKS = 100;

function cpuTicks(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return Number(f[11]) + Number(f[12]); // utime + stime of every thread of the process
  } catch {
    return 0;
  }
}

const mib = (kib: number) => Math.round((kib / 1024) * 100) / 100;

export async function density(airlock: Airlock, runtime: 'runc' | 'gvisor', count: number, cpuWindowMs: number): Promise<DensityResult> {
  const rssBefore = process.memoryUsage().rss;
  const before = memAvailableKiB();
  const idle: Sandbox[] = [];
  const t0 = performance.now();
  try {
    for (let i = 0; i < count; i++) idle.push(await airlock.sandboxes.create({ runtime }));
    const createSeconds = Math.round((performance.now() - t0) / 100) / 10;
    await new Promise((r) => setTimeout(r, 2000));
    const per = idle.map((s) => sandboxPssKiB(s.id));
    const after = memAvailableKiB();
    const rssAt = process.memoryUsage().rss;
    const pids = idle.flatMap((s) => sandboxPids(s.id));
    const ticks0 = pids.reduce((n, p) => n + cpuTicks(p), 0);
    await new Promise((r) => setTimeout(r, cpuWindowMs));
    const ticks1 = pids.reduce((n, p) => n + cpuTicks(p), 0);
    return {
      sandboxes: count,
      pssMiBMedian: mib(summarize(per.map((p) => p.pss)).p50),
      hostProcessesPerSandbox: summarize(per.map((p) => p.processes)).p50,
      memAvailableDropMiBPerSandbox: mib((before - after) / count),
      serverRssMiBBefore: mib(rssBefore / 1024),
      serverRssMiBAt: mib(rssAt / 1024),
      idleCpuPercentOfOneCore: Math.round(((ticks1 - ticks0) / CLOCK_TICKS / (cpuWindowMs / 1000)) * 1000) / 10,
      createSeconds,
    };
  } finally {
    // Destroy a few at a time: the point here is memory, not a destroy storm on 2 cores.
    for (let i = 0; i < idle.length; i += 8) await Promise.all(idle.slice(i, i + 8).map((s) => s.destroy()));
  }
}
