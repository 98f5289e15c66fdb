/**
 * @module adopt
 * A restart with many sandboxes running: a server creates `n` idle runc sandboxes, closes (they keep
 * running), and a new server on the same data directory starts and adopts them. Timed until the new
 * server answers (startServer resolves after reconcile), then until its first exec into the last
 * sandbox made. runc, because its idle sandboxes cost the host almost nothing (two processes each);
 * this measures the server's reconcile, not the runtime's.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { Airlock } from '@airlock/sdk';
import { startServer, type ConfigOverrides } from '@airlock/server';
import type { Row } from './report.js';
import { summarize } from './stats.js';

export async function benchAdopt(key: string, n: number, restarts: number): Promise<Row[]> {
  const dataDir = mkdtempSync('/tmp/airlock-bench-adopt-');
  // Sized for the count: small sandboxes, and admission told this is what the host is for.
  const overrides: ConfigOverrides = {
    dataDir,
    port: 0,
    apiKey: key,
    logLevel: 'warn',
    network: { uplinks: [] },
    maxSandboxes: Math.max(n, 1000),
    limits: { cpuOvercommit: 64, memoryOvercommit: 4 },
  };
  let server = await startServer(overrides, { print: () => {} });
  const starts: number[] = [];
  const firstExec: number[] = [];
  try {
    const airlock = new Airlock({ url: server.url, apiKey: key });
    const ids: string[] = [];
    let next = 0;
    await Promise.all(
      Array.from({ length: 4 }, async () => {
        while (next++ < n) ids.push((await airlock.sandboxes.create({ runtime: 'runc', cpu: 0.1, memoryMiB: 32, timeout: null })).id);
      }),
    );
    for (let i = 0; i < restarts; i++) {
      await server.close();
      const t0 = performance.now();
      server = await startServer(overrides, { print: () => {} });
      starts.push(performance.now() - t0);
      const again = new Airlock({ url: server.url, apiKey: key });
      const r = await (await again.sandboxes.get(ids.at(-1)!)).exec(['true']);
      if (r.exitCode !== 0) throw new Error(`an adopted sandbox's exec exited ${r.exitCode}`);
      firstExec.push(performance.now() - t0);
      const running = (await again.sandboxes.list({ state: 'running' })).length;
      if (running !== n) throw new Error(`after the restart ${running} of ${n} sandboxes run`);
    }
  } finally {
    await server.sandboxes.destroyAll();
    await server.close();
    rmSync(dataDir, { recursive: true, force: true });
  }
  return [
    { metric: `server start, adopting ${n} running sandboxes (until it answers)`, runtime: 'runc', airlock: summarize(starts) },
    { metric: `server start, adopting ${n} running sandboxes (until an exec into one returns)`, runtime: 'runc', airlock: summarize(firstExec) },
  ];
}
