/**
 * @module memory
 * Host memory of a sandbox: the proportional set size (PSS) of every host process that belongs to
 * it — the processes in its cgroup (the agent for runc; runsc's sandbox and gofer for gVisor)
 * and its shim.
 */
import { readFileSync } from 'node:fs';
import { sandboxCgroupPids } from '@airlock/server/internal/host/cgroups.js';
import { processesMatching } from '@airlock/testkit/host-probe.js';

function pssKiB(pid: number): number {
  try {
    const m = /^Pss:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8'));
    return Number(m?.[1] ?? 0);
  } catch {
    return 0;
  }
}

/** Every host process of the sandbox: its cgroup's and any naming it (the shim, runsc's sandbox and gofer). */
export function sandboxPids(id: string): number[] {
  return [...new Set([...sandboxCgroupPids(id), ...processesMatching((cmd) => cmd.includes(id)).map((p) => p.pid)])];
}

export function sandboxPssKiB(id: string): { pss: number; processes: number } {
  const pids = sandboxPids(id);
  let pss = 0;
  for (const p of pids) pss += pssKiB(p);
  return { pss, processes: pids.length };
}
