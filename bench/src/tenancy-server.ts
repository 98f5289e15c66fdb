/**
 * The tenancy benchmark's server, in a process of its own as a deployment runs it: the flood's
 * clients and the measuring client are other processes, so their work never runs on its event loop.
 * Prints `AIRLOCK_BENCH_URL=<url>`; on SIGTERM destroys what is left, stops and removes its data dir.
 * Its event loop's delay is measured (LOOP_DELAY on SIGUSR2).
 * usage: tenancy-server.js API_KEY
 */
import { mkdtempSync } from 'node:fs';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { startServer } from '@airlock/server';
import { stopServer } from './standalone.js';

const apiKey = process.argv[2];
if (!apiKey) throw new Error('usage: tenancy-server.js API_KEY');
const dataDir = mkdtempSync('/tmp/airlock-bench-');
// Rates out of the way: the benchmark measures CPU and queueing, not the per-key rate limiter.
const server = await startServer({ dataDir, port: 0, apiKey, logLevel: 'warn', tenancy: { rate: { perSecond: 1e6, burst: 1e6 } } }, { print: () => {} });
// Where a quiet tenant's time goes under a flood: how late this event loop runs what is due. On
// SIGUSR2 it prints `LOOP_DELAY <p50 ms> <p95 ms>` since the last one, and starts over.
const loop = monitorEventLoopDelay({ resolution: 5 });
loop.enable();
process.on('SIGUSR2', () => {
  process.stdout.write(`LOOP_DELAY ${(loop.percentile(50) / 1e6).toFixed(1)} ${(loop.percentile(95) / 1e6).toFixed(1)}\n`);
  loop.reset();
});
process.stdout.write(`AIRLOCK_BENCH_URL=${server.url}\n`);
process.once('SIGTERM', () => {
  stopServer(server, dataDir).then(
    () => process.exit(0),
    (e: unknown) => {
      process.stderr.write(`tenancy server: teardown failed: ${String(e)}\n`);
      process.exit(1);
    },
  );
});
