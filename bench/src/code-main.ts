/**
 * `node bench/dist/code-main.js [--quick]`: only the code interpreter figures (code.ts), against a
 * server of its own; writes bench/results/latest-code.md.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Airlock } from '@airlock/sdk';
import { startServer } from '@airlock/server';
import { codeBench } from './code.js';

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
  lines.push('', '| metric | runtime | p50 / p95 / p99 ms |', '|---|---|---|');
  for (const row of r.rows)
    lines.push(`| ${row.metric} | ${row.runtime} | ${row.airlock?.p50} / ${row.airlock?.p95} / ${row.airlock?.p99} (n=${row.airlock?.n}) |`);
  lines.push(...r.lines);
} finally {
  await server.sandboxes.destroyAll();
  await server.close();
  rmSync(dataDir, { recursive: true, force: true });
}
const out = fileURLToPath(new URL('../results/', import.meta.url));
mkdirSync(out, { recursive: true });
writeFileSync(join(out, 'latest-code.md'), `${lines.join('\n')}\n`);
process.stdout.write(`${lines.join('\n')}\n`);
