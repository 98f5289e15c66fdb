/**
 * `node bench/dist/code-main.js [--quick]`: only the code interpreter figures (code.ts, and code-pool.ts: the first cell from a warm pool), against a
 * server of its own; writes bench/results/latest-code.md.
 */
import { mkdtempSync } from 'node:fs';
import { Airlock } from '@airlock/sdk';
import { startServer } from '@airlock/server';
import { codeBench } from './code.js';
import { codePoolBench } from './code-pool.js';
import { percentileTable, publish, stopServer } from './standalone.js';

const quick = process.argv.includes('--quick');
const dataDir = mkdtempSync('/tmp/airlock-bench-');
const key = 'bench-key-0123456789abcdefghij';
const server = await startServer(
  { dataDir, port: 0, apiKey: key, logLevel: 'warn', network: { uplinks: [] }, limits: { cpuOvercommit: 32 } },
  { print: () => {} },
);
const lines: string[] = [`# Airlock code interpreter benchmark ${quick ? '(quick)' : ''}`, '', new Date().toISOString()];
try {
  const r = await codeBench(new Airlock({ url: server.url, apiKey: key }), ['runc', 'gvisor'], quick);
  lines.push(...percentileTable(r.rows));
  lines.push(...r.lines);
  const pooled = await codePoolBench(key, quick ? 3 : 10, ['gvisor', 'runc']);
  lines.push(...percentileTable(pooled.rows), ...pooled.lines);
} finally {
  await stopServer(server, dataDir);
}
publish('code', lines);
