/**
 * `node bench/dist/processes-main.js [--quick]`: only the process and file figures (processes.ts),
 * against a server of its own; writes bench/results/latest-processes.md.
 */
import { mkdtempSync } from 'node:fs';
import { Airlock } from '@airlock/sdk';
import { startServer } from '@airlock/server';
import { processBench } from './processes.js';
import { percentileTable, publish, stopServer } from './standalone.js';

const quick = process.argv.includes('--quick');
const dataDir = mkdtempSync('/tmp/airlock-bench-');
const key = 'bench-key-0123456789abcdefghij';
const server = await startServer({ dataDir, port: 0, apiKey: key, logLevel: 'warn', processes: { journalBytes: 128 * 1024 * 1024 } }, { print: () => {} });
const lines: string[] = [`# Airlock process and file benchmark ${quick ? '(quick)' : ''}`, '', new Date().toISOString()];
try {
  const r = await processBench(new Airlock({ url: server.url, apiKey: key }), ['runc', 'gvisor'], quick);
  lines.push(...percentileTable(r.rows));
  lines.push(...r.lines);
} finally {
  await stopServer(server, dataDir);
}
publish('processes', lines);
