/**
 * Throughput: full create → exec → destroy lifecycles per second at several concurrencies, next to
 * raw `runc run` / `runsc run` lifecycles at the same concurrency; and execs per second into
 * sandboxes that already run.
 */
import type { Airlock, Sandbox } from '@airlock/sdk';
import { rawLifecycle, type RawRuntime } from './raw.js';

export interface ThroughputRow {
  metric: string;
  runtime: string;
  concurrency: number;
  n: number;
  airlockPerSecond: number;
  baseline?: { name: string; perSecond: number };
}

/** Runs `total` jobs with `concurrency` workers; returns jobs per second of wall time. */
export async function rate(total: number, concurrency: number, job: (i: number) => Promise<unknown>): Promise<number> {
  let next = 0;
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < total) await job(next++);
    }),
  );
  return Math.round((total / ((performance.now() - t0) / 1000)) * 10) / 10;
}

export async function lifecycles(
  airlock: Airlock,
  runtime: 'runc' | 'gvisor',
  raw: RawRuntime,
  templateId: string,
  nextRunId: () => string,
  n: (concurrency: number) => number,
  concurrencies: number[],
): Promise<ThroughputRow[]> {
  const rows: ThroughputRow[] = [];
  for (const c of concurrencies) {
    const total = n(c);
    const airlockPerSecond = await rate(total, c, async () => {
      const sb = await airlock.sandboxes.create({ runtime });
      try {
        const r = await sb.exec(['true']);
        if (r.exitCode !== 0) throw new Error(`true exited ${r.exitCode}`);
      } finally {
        await sb.destroy();
      }
    });
    const perSecond = await rate(total, c, () => rawLifecycle(raw, templateId, nextRunId(), ['/bin/true']));
    rows.push({
      metric: 'lifecycles/s: create → exec true → destroy',
      runtime,
      concurrency: c,
      n: total,
      airlockPerSecond,
      baseline: { name: `${raw.binary} run /bin/true (+ delete)`, perSecond },
    });
  }
  return rows;
}

export async function execRate(sandboxes: Sandbox[], runtime: string, total: number, concurrency: number): Promise<ThroughputRow> {
  const perSecond = await rate(total, concurrency, async (i) => {
    const r = await sandboxes[i % sandboxes.length]!.exec(['true']);
    if (r.exitCode !== 0) throw new Error(`true exited ${r.exitCode}`);
  });
  return { metric: `execs/s of true into ${sandboxes.length} running sandboxes`, runtime, concurrency, n: total, airlockPerSecond: perSecond };
}
