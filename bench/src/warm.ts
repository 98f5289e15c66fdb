/**
 * Time to first output from a warm pool: a second server keeps `gvisor:4` and `runc:4` pools; each
 * sample waits until the pool is full again (so that no refill competes for the 2 cores), then times
 * create + exec(python3 -c 'print(1)') through the SDK. Also reports what the pool says about itself.
 */
import { rmSync } from 'node:fs';
import type { PoolStatus } from '@airlock/protocol';
import { Airlock } from '@airlock/sdk';
import { startServer } from '@airlock/server';
import { summarize, type Summary } from './stats.js';

export interface WarmRow {
  metric: string;
  runtime: string;
  airlock: Summary;
}

/** Waits until the runtime's pool holds as many ready sandboxes as its size. */
export async function untilFull(airlock: Airlock, runtime: string, timeoutMs = 120_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const p = (await airlock.pools.list()).pools.find((x) => x.runtime === runtime);
    if (p && p.ready === p.size) return;
    if (p?.lastError && p.refillFailures > 0 && Date.now() > end) throw new Error(`pool ${runtime} does not fill: ${p.lastError}`);
    if (Date.now() > end) throw new Error(`pool ${runtime} did not fill`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

export async function warmTti(
  dataDir: string,
  key: string,
  n: number,
  runtimes: readonly ('runc' | 'gvisor')[],
): Promise<{ rows: WarmRow[]; pools: PoolStatus[] }> {
  const server = await startServer(
    { dataDir, port: 0, apiKey: key, logLevel: 'warn', network: { uplinks: [] }, pools: runtimes.map((r) => `${r}:4`) },
    { print: () => {} },
  );
  const airlock = new Airlock({ url: server.url, apiKey: key });
  const rows: WarmRow[] = [];
  try {
    for (const runtime of runtimes) {
      const samples: number[] = [];
      for (let i = -2; i < n; i++) {
        await untilFull(airlock, runtime);
        const t0 = performance.now();
        const sb = await airlock.sandboxes.create({ runtime, env: { RUN: String(i) } });
        const r = await sb.exec(['python3', '-c', 'print(1)']);
        const ms = performance.now() - t0;
        if (r.stdout !== '1\n') throw new Error(`unexpected output ${JSON.stringify(r.stdout)}`);
        if (i >= 0) samples.push(ms);
        await sb.destroy();
      }
      rows.push({ metric: "create to first output: python3 -c 'print(1)' (warm pool)", runtime, airlock: summarize(samples) });
    }
    return { rows, pools: (await airlock.pools.list()).pools };
  } finally {
    await server.sandboxes.destroyAll();
    await server.close();
    rmSync(dataDir, { recursive: true, force: true });
  }
}
