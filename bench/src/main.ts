/**
 * `npm run bench [-- --quick]`: Airlock's latencies and memory, measured through the SDK against a
 * real server, next to the raw runtimes and the host floor in the same run. Writes a markdown table
 * and JSON to bench/results/. Medians and ratios, since these machines are shared and noisy.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import { Airlock, type Sandbox } from '@airlock/sdk';
import { startServer } from '@airlock/server';
import { benchImages, type ImageRow } from './images.js';
import { describeMachine, memAvailableKiB } from './machine.js';
import { sandboxPssKiB } from './memory.js';
import { rawExec, rawRun, rawRuntime } from './raw.js';
import { summarize, timeIt, type Summary } from './stats.js';

const quick = process.argv.includes('--quick');
const N = quick
  ? { execTrue: 50, execPy: 15, rawExec: 8, tti: 3, idle: 3, floor: 50, pull: 1, prepare: 10 }
  : { execTrue: 300, execPy: 60, rawExec: 40, tti: 15, idle: 20, floor: 300, pull: 5, prepare: 100 };
const RUNTIMES = ['runc', 'gvisor'] as const;
const PY = ['python3', '-c', 'print(1)'];

interface Row {
  metric: string;
  runtime: string;
  airlock?: Summary;
  baseline?: { name: string; summary: Summary };
}

const rows: Row[] = [];
let imageRows: ImageRow[] = [];
const memory: Record<string, unknown> = {};
const dataDir = mkdtempSync('/tmp/airlock-bench-');
const key = 'bench-key-0123456789abcdefghij';
const server = await startServer({ dataDir, port: 0, apiKey: key, logLevel: 'warn' }, { print: () => {} });
const airlock = new Airlock({ url: server.url, apiKey: key });
let runId = 0;
const nextRunId = () => `sb-bench${String(process.pid % 1e6).padStart(6, '0')}${String(runId++).padStart(6, '0')}`;

try {
  rows.push({
    metric: 'host floor: spawn /bin/true (Node)',
    runtime: 'host',
    airlock: summarize(await timeIt(N.floor, () => spawnSync('/bin/true'))),
  });
  rows.push({
    metric: "host floor: /usr/bin/python3 -c 'print(1)'",
    runtime: 'host',
    airlock: summarize(await timeIt(Math.ceil(N.floor / 5), () => spawnSync('/usr/bin/python3', ['-c', 'print(1)']))),
  });

  for (const runtime of RUNTIMES) {
    const raw = rawRuntime(dataDir, runtime);
    const sb = await airlock.sandboxes.create({ runtime, timeout: null });
    try {
      rows.push({
        metric: 'exec round trip: true',
        runtime,
        airlock: summarize(await timeIt(N.execTrue, () => sb.exec(['true']))),
        baseline: { name: `${raw.binary} exec`, summary: summarize(await timeIt(N.rawExec, () => rawExec(raw, sb.id, ['/bin/true']), 1)) },
      });
      rows.push({
        metric: "exec round trip: python3 -c 'print(1)'",
        runtime,
        airlock: summarize(await timeIt(N.execPy, () => sb.exec(PY))),
        baseline: { name: `${raw.binary} exec`, summary: summarize(await timeIt(N.rawExec, () => rawExec(raw, sb.id, PY), 1)) },
      });

      const tti: number[] = [];
      const teardown: number[] = [];
      for (let i = 0; i < N.tti; i++) {
        const t0 = performance.now();
        const fresh: Sandbox = await airlock.sandboxes.create({ runtime });
        const r = await fresh.exec(PY);
        if (r.stdout !== '1\n') throw new Error(`unexpected output ${JSON.stringify(r.stdout)}`);
        tti.push(performance.now() - t0);
        const t1 = performance.now();
        await fresh.destroy();
        teardown.push(performance.now() - t1);
      }
      const rawTti: number[] = [];
      for (let i = 0; i < N.tti; i++) {
        const r = rawRun(raw, sb.id, nextRunId(), ['/usr/bin/python3', '-c', 'print(1)']);
        if (r.output !== '1\n') throw new Error(`raw run printed ${JSON.stringify(r.output)}`);
        rawTti.push(r.ms);
      }
      rows.push({
        metric: "create to first output: python3 -c 'print(1)' (cold)",
        runtime,
        airlock: summarize(tti),
        baseline: { name: `${raw.binary} run`, summary: summarize(rawTti) },
      });
      rows.push({ metric: 'destroy (until every host resource is gone)', runtime, airlock: summarize(teardown) });

      const before = memAvailableKiB();
      const idle: Sandbox[] = [];
      for (let i = 0; i < N.idle; i++) idle.push(await airlock.sandboxes.create({ runtime }));
      await new Promise((r) => setTimeout(r, 2000));
      const per = idle.map((s) => sandboxPssKiB(s.id));
      const after = memAvailableKiB();
      memory[runtime] = {
        sandboxes: N.idle,
        pssMiBMedian: Math.round((summarize(per.map((p) => p.pss)).p50 / 1024) * 100) / 100,
        hostProcessesPerSandbox: summarize(per.map((p) => p.processes)).p50,
        memAvailableDropMiBPerSandbox: Math.round(((before - after) / N.idle / 1024) * 100) / 100,
      };
      await Promise.all(idle.map((s) => s.destroy()));
    } finally {
      await sb.destroy();
    }
  }
  imageRows = await benchImages(airlock, server, dataDir, { pull: N.pull, prepare: N.prepare, tti: N.tti });
  rows.push(...imageRows);
} finally {
  await server.sandboxes.destroyAll();
  await server.close();
  rmSync(dataDir, { recursive: true, force: true });
}

const machine = describeMachine();
const fmt = (s?: Summary) => (s ? `${s.p50} / ${s.p95} / ${s.p99} (n=${s.n})` : '');
const lines = [
  `# Airlock benchmark ${quick ? '(quick)' : ''}`,
  '',
  `${machine.date} · ${machine.cores} cores · ${machine.memoryGiB} GiB · kernel ${machine.kernel} · ${machine.runc} · ${machine.runsc} · node ${machine.node}`,
  '',
  '| metric | runtime | Airlock p50 / p95 / p99 ms | baseline | baseline p50 / p95 / p99 ms | Airlock ÷ baseline (p50) |',
  '|---|---|---|---|---|---|',
  ...rows.map(
    (r) =>
      `| ${r.metric} | ${r.runtime} | ${fmt(r.airlock)} | ${r.baseline?.name ?? ''} | ${fmt(r.baseline?.summary)} | ${
        r.airlock && r.baseline ? (r.airlock.p50 / r.baseline.summary.p50).toFixed(2) : ''
      } |`,
  ),
  '',
  '| idle sandbox | runtime | PSS per sandbox (MiB, median) | host processes per sandbox | MemAvailable drop per sandbox (MiB) |',
  '|---|---|---|---|---|',
  ...Object.entries(memory).map(([rt, m]) => {
    const x = m as Record<string, number>;
    return `| ${x.sandboxes} idle | ${rt} | ${x.pssMiBMedian} | ${x.hostProcessesPerSandbox} | ${x.memAvailableDropMiBPerSandbox} |`;
  }),
  '',
];
const out = fileURLToPath(new URL('../results/', import.meta.url));
mkdirSync(out, { recursive: true });
const stamp = String(machine.date).replace(/[:.]/g, '-');
const name = quick ? 'quick' : 'full';
writeFileSync(join(out, `latest-${name}.md`), lines.join('\n'));
writeFileSync(join(out, `${stamp}-${name}.json`), JSON.stringify({ machine, quick, rows, memory, images: imageRows }, null, 2));
process.stdout.write(lines.join('\n'));
