/**
 * `node bench/dist/observe-overhead.js [--rounds N] [--per-round N]`: what observation costs on
 * the exec round trip. Two servers on one host, one with observation on (request log lines at info
 * level, request and sandbox metrics, lifecycle events into SQLite) and one with it off
 * (observe.enabled=false); one runc sandbox each; rounds of `exec true` alternate between them so
 * that the host's noise falls on both alike. Log lines go to stdout: run it with `> /dev/null`, as
 * a collector would read them; the result goes to stderr and bench/results/observe-overhead.json.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Airlock } from '@airlock/sdk';
import { startServer } from '@airlock/server';
import { summarize, timeIt } from './stats.js';

const arg = (name: string, dflt: number) => {
  const i = process.argv.indexOf(name);
  return i === -1 ? dflt : Number(process.argv[i + 1]);
};
const rounds = arg('--rounds', 10);
const perRound = arg('--per-round', 100);
const key = 'bench-key-0123456789abcdefghij';

const sides = [] as { name: 'on' | 'off'; close: () => Promise<void>; exec: () => Promise<unknown>; samples: number[] }[];
const dirs: string[] = [];
try {
  for (const enabled of [true, false]) {
    const dataDir = mkdtempSync('/tmp/airlock-bench-observe-');
    dirs.push(dataDir);
    const server = await startServer(
      { dataDir, port: 0, apiKey: key, logLevel: 'info', network: { uplinks: [] }, observe: { enabled, logFormat: 'json' } },
      { print: () => {} },
    );
    const client = new Airlock({ url: server.url, apiKey: key });
    const sb = await client.sandboxes.create({ runtime: 'runc' });
    sides.push({
      name: enabled ? 'on' : 'off',
      exec: () => sb.exec(['true']),
      samples: [],
      close: async () => {
        await sb.destroy().catch(() => {});
        await server.close();
      },
    });
  }
  for (let r = 0; r < rounds; r++) {
    // Alternate which side goes first, so neither always runs on a warmer host.
    for (const side of r % 2 === 0 ? sides : [...sides].reverse()) side.samples.push(...(await timeIt(perRound, side.exec)));
  }
  const on = summarize(sides[0]!.samples);
  const off = summarize(sides[1]!.samples);
  const result = {
    what: 'exec round trip of `true` in a runc sandbox, ms, observation on vs off',
    rounds,
    perRound,
    on,
    off,
    overheadMedianPercent: Math.round(((on.p50 - off.p50) / off.p50) * 1000) / 10,
    overheadP95Percent: Math.round(((on.p95 - off.p95) / off.p95) * 1000) / 10,
  };
  const out = fileURLToPath(new URL('../results/', import.meta.url));
  mkdirSync(out, { recursive: true });
  writeFileSync(join(out, 'observe-overhead.json'), `${JSON.stringify(result, null, 2)}\n`);
  process.stderr.write(`${JSON.stringify(result, null, 2)}\n`);
} finally {
  for (const s of sides) await s.close();
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
}
