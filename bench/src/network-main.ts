/** `node bench/dist/network-main.js [--quick]`: only the network figures (benchNetwork), printed as markdown. */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { benchNetwork } from './network.js';

const quick = process.argv.includes('--quick');
const { rows, notes } = await benchNetwork(quick);
const f = (s?: { p50: number; p95: number; p99: number }) => (s ? `${s.p50} / ${s.p95} / ${s.p99}` : '');
const lines = [
  `# Airlock network benchmark ${quick ? '(quick)' : ''}`,
  '',
  `${new Date().toISOString()} · load average ${(await import('node:os'))
    .loadavg()
    .map((x) => x.toFixed(2))
    .join(' ')}`,
  '',
  '| metric | Airlock p50 / p95 / p99 ms | baseline | baseline p50 / p95 / p99 ms | ratio (p50) |',
  '|---|---|---|---|---|',
  ...rows.map(
    (r) =>
      `| ${r.metric} | ${f(r.airlock)} | ${r.baseline?.name ?? ''} | ${f(r.baseline?.summary)} | ${r.airlock && r.baseline ? (r.airlock.p50 / r.baseline.summary.p50).toFixed(2) : ''} |`,
  ),
  '',
  ...notes.map((n) => `- ${n}`),
  '',
];
const dir = join(fileURLToPath(new URL('.', import.meta.url)), '..', 'results');
mkdirSync(dir, { recursive: true });
writeFileSync(join(dir, quick ? 'network-quick.md' : 'network-latest.md'), lines.join('\n'));
process.stdout.write(lines.join('\n'));
