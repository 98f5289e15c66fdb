/** @module report The markdown tables of one bench run. */
import type { PoolStatus } from '@airlock/protocol';
import type { DensityResult } from './density.js';
import type { Summary } from './stats.js';
import type { ThroughputRow } from './throughput.js';

export interface Row {
  metric: string;
  runtime: string;
  airlock?: Summary;
  baseline?: { name: string; summary: Summary } | undefined;
}

export interface Report {
  quick: boolean;
  machine: Record<string, string | number>;
  seconds: number;
  rows: Row[];
  throughput: ThroughputRow[];
  densities: Record<string, DensityResult>;
  pools: PoolStatus[];
}

const fmt = (s?: Summary) => (s ? `${s.p50} / ${s.p95} / ${s.p99} (n=${s.n})` : '');

export function renderReport(r: Report): string[] {
  const m = r.machine;
  return [
    `# Airlock benchmark ${r.quick ? '(quick)' : ''}`,
    '',
    `${m.date} · ${m.cores} cores · ${m.memoryGiB} GiB · kernel ${m.kernel} · ${m.runc} · ${m.runsc} · node ${m.node} · load average before ${m.loadavgBefore}, after ${m.loadavgAfter} · ${r.seconds} s`,
    '',
    '| metric | runtime | Airlock p50 / p95 / p99 ms | baseline | baseline p50 / p95 / p99 ms | Airlock ÷ baseline (p50) |',
    '|---|---|---|---|---|---|',
    ...r.rows.map(
      (x) =>
        `| ${x.metric} | ${x.runtime} | ${fmt(x.airlock)} | ${x.baseline?.name ?? ''} | ${fmt(x.baseline?.summary)} | ${
          x.airlock && x.baseline ? (x.airlock.p50 / x.baseline.summary.p50).toFixed(2) : ''
        } |`,
    ),
    '',
    '| throughput | runtime | concurrency | n | Airlock per s | baseline | baseline per s | Airlock ÷ baseline |',
    '|---|---|---|---|---|---|---|---|',
    ...r.throughput.map(
      (t) =>
        `| ${t.metric} | ${t.runtime} | ${t.concurrency} | ${t.n} | ${t.airlockPerSecond} | ${t.baseline?.name ?? ''} | ${t.baseline?.perSecond ?? ''} | ${
          t.baseline ? (t.airlockPerSecond / t.baseline.perSecond).toFixed(2) : ''
        } |`,
    ),
    '',
    '| density | runtime | PSS per sandbox (MiB, median) | host processes per sandbox | MemAvailable drop per sandbox (MiB) | server RSS before → at that count (MiB) | CPU of the idle sandboxes (% of one core) | serial create of all (s) |',
    '|---|---|---|---|---|---|---|---|',
    ...Object.entries(r.densities).map(
      ([rt, d]) =>
        `| ${d.sandboxes} idle | ${rt} | ${d.pssMiBMedian} | ${d.hostProcessesPerSandbox} | ${d.memAvailableDropMiBPerSandbox} | ${d.serverRssMiBBefore} → ${d.serverRssMiBAt} | ${d.idleCpuPercentOfOneCore} | ${d.createSeconds} |`,
    ),
    '',
    '| warm pool | size | hits | misses | refills | refill p50 ms |',
    '|---|---|---|---|---|---|',
    ...r.pools.map((p) => `| ${p.runtime} | ${p.size} | ${p.hits} | ${p.misses} | ${p.refills} | ${p.refillMs.p50 ?? ''} |`),
    '',
  ];
}
