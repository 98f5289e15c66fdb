/**
 * The tenancy benchmark's server, in a process of its own as a deployment runs it: the flood's
 * clients and the measuring client are other processes, so their work never runs on its event loop.
 * Prints `AIRLOCK_BENCH_URL=<url>`; on SIGTERM destroys what is left, stops and removes its data dir.
 * usage: tenancy-server.js API_KEY
 */
import { mkdtempSync } from 'node:fs';
import { startServer } from '@airlock/server';
import { stopServer } from './standalone.js';

const apiKey = process.argv[2];
if (!apiKey) throw new Error('usage: tenancy-server.js API_KEY');
const dataDir = mkdtempSync('/tmp/airlock-bench-');
// Rates out of the way: the benchmark measures CPU and queueing, not the per-key rate limiter.
const server = await startServer({ dataDir, port: 0, apiKey, logLevel: 'warn', tenancy: { rate: { perSecond: 1e6, burst: 1e6 } } }, { print: () => {} });
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
