/**
 * `npm run bench [-- --quick]`: Airlock's latencies, throughput and density, measured through the
 * SDK against a real server, next to the raw runtimes and the host floor in the same run. Writes a
 * markdown table and JSON to bench/results/. Medians and ratios, since these machines are shared and noisy.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import type { PoolStatus } from '@airlock/protocol';
import { Airlock, type Sandbox } from '@airlock/sdk';
import { startServer } from '@airlock/server';
import { benchAdopt } from './adopt.js';
import { density, type DensityResult } from './density.js';
import { maxDensity } from './density-max.js';
import { buildFloor, cliRows, hostFloor, sandboxFloor } from './floors.js';
import { benchBuilds } from './builds.js';
import { benchImages } from './images.js';
import { benchNetwork } from './network.js';
import { describeMachine } from './machine.js';
import { benchMicrovm } from './microvm.js';
import { rawExec, rawRun, rawRuntime } from './raw.js';
import { renderReport, type Row } from './report.js';
import { summarize, timeIt } from './stats.js';
import { teardown } from './teardown.js';
import { execRate, lifecycles, type ThroughputRow } from './throughput.js';
import { warmTti } from './warm.js';
import { processBench } from './processes.js';
import { codeBench } from './code.js';
import { codePoolBench } from './code-pool.js';
import { tenancyLines } from './tenancy.js';

const quick = process.argv.includes('--quick');
const key = 'bench-key-0123456789abcdefghij';
const maxDensityAt = process.argv.indexOf('--max-density');
if (maxDensityAt !== -1) {
  // A mode of its own: it takes the host for minutes and has nothing to compare with in a regular run.
  const target = Number(process.argv[maxDensityAt + 1] ?? 1000);
  process.stdout.write(`${JSON.stringify(await maxDensity(key, Number.isInteger(target) && target > 0 ? target : 1000), null, 2)}\n`);
  process.exit(0);
}
const N = quick
  ? {
      execTrue: 50,
      execPy: 15,
      rawExec: 8,
      tti: 3,
      warm: 5,
      teardown: 3,
      idle: 10,
      cpuWindowMs: 2000,
      execs: 100,
      floor: 50,
      pull: 1,
      prepare: 10,
      builds: 1,
      cli: 5,
      adopt: 25,
      restarts: 2,
    }
  : {
      execTrue: 300,
      execPy: 60,
      rawExec: 40,
      tti: 15,
      warm: 30,
      teardown: 15,
      idle: 100,
      cpuWindowMs: 10_000,
      execs: 1000,
      floor: 300,
      pull: 5,
      prepare: 100,
      builds: 3,
      cli: 20,
      adopt: 1000,
      restarts: 3,
    };
/** Lifecycles per concurrency: enough for every worker to do a few, fewer for the slower runtime. */
const lifecycleCount = (runtime: 'runc' | 'gvisor') => (c: number) => Math.max(c * (quick ? 1 : 3), (quick ? 4 : 20) / (runtime === 'gvisor' ? 2 : 1));
const CONCURRENCY = [1, 4, 16];
const RUNTIMES = ['runc', 'gvisor'] as const;
const PY = ['python3', '-c', 'print(1)'];

const rows: Row[] = [];
const throughput: ThroughputRow[] = [];
const densities: Record<string, DensityResult> = {};
let pools: PoolStatus[] = [];
const processLines: string[] = [];
const networkNotes: string[] = [];
const started = performance.now();
const loadBefore = spawnSync('cat', ['/proc/loadavg'], { encoding: 'utf8' }).stdout.trim();
const dataDir = mkdtempSync('/tmp/airlock-bench-');
// No uplink: the bench's sandboxes need no egress, and the host's own interfaces stay as they are.
// CPU overcommit raised: 16 concurrent lifecycles of 1-vCPU sandboxes on a 2-core host is the point
// of the throughput rows, not a mistake admission should refuse.
const server = await startServer(
  { dataDir, port: 0, apiKey: key, logLevel: 'warn', network: { uplinks: [] }, limits: { cpuOvercommit: 32 }, processes: { journalBytes: 128 * 1024 * 1024 } },
  { print: () => {} },
);
const airlock = new Airlock({ url: server.url, apiKey: key });
let runId = 0;
const nextRunId = () => `sb-bench${String(process.pid % 1e6).padStart(6, '0')}${String(runId++).padStart(6, '0')}`;

const floorBinary = buildFloor();
try {
  const cFloor = hostFloor(floorBinary, N.floor);
  rows.push({ metric: 'host floor: fork + exec + wait of /bin/true (C)', runtime: 'host', airlock: cFloor });
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

  // bubblewrap, where present: the lightest namespace sandbox on this host (no Airlock runtime uses it yet).
  if (spawnSync('bwrap', ['--version']).status === 0) {
    const bwrap = ['--unshare-all', '--die-with-parent', '--ro-bind', '/', '/', '--proc', '/proc', '--dev', '/dev', '--tmpfs', '/tmp'];
    rows.push({
      metric: "raw bwrap: /usr/bin/python3 -c 'print(1)'",
      runtime: 'bwrap',
      airlock: summarize(await timeIt(Math.ceil(N.floor / 5), () => spawnSync('bwrap', [...bwrap, '/usr/bin/python3', '-c', 'print(1)']))),
    });
  }

  for (const runtime of RUNTIMES) {
    const raw = rawRuntime(dataDir, runtime);
    const sb = await airlock.sandboxes.create({ runtime, timeout: null });
    try {
      const floor = await sandboxFloor(sb, floorBinary, N.floor);
      rows.push({
        metric: 'floor inside the sandbox: fork + exec + wait of /bin/true (C)',
        runtime,
        airlock: floor,
        baseline: { name: 'the same on the host', summary: cFloor },
      });
      rows.push({
        metric: 'exec round trip: true, next to the floor inside the sandbox',
        runtime,
        airlock: summarize(await timeIt(N.execTrue, () => sb.exec(['true']))),
        baseline: { name: 'fork + exec inside', summary: floor },
      });
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
      for (let i = 0; i < N.tti; i++) {
        const t0 = performance.now();
        const fresh: Sandbox = await airlock.sandboxes.create({ runtime });
        const r = await fresh.exec(PY);
        if (r.stdout !== '1\n') throw new Error(`unexpected output ${JSON.stringify(r.stdout)}`);
        tti.push(performance.now() - t0);
        await fresh.destroy();
      }
      const rawTti: number[] = [];
      for (let i = 0; i < N.tti; i++) {
        const r = rawRun(raw, sb.id, nextRunId(), ['/usr/bin/python3', '-c', 'print(1)']);
        if (r.output !== '1\n') throw new Error(`raw run printed ${JSON.stringify(r.output)}`);
        rawTti.push(r.ms);
      }
      const rawRow = { name: `${raw.binary} run`, summary: summarize(rawTti) };
      rows.push({ metric: "create to first output: python3 -c 'print(1)' (cold)", runtime, airlock: summarize(tti), baseline: rawRow });

      const td = await teardown(airlock, dataDir, runtime, N.teardown);
      rows.push({ metric: 'destroy: until it answers', runtime, airlock: td.returns });
      rows.push({ metric: 'destroy: until every host resource is gone', runtime, airlock: td.gone });

      throughput.push(...(await lifecycles(airlock, runtime, raw, sb.id, nextRunId, lifecycleCount(runtime), CONCURRENCY)));
      const running = [sb, ...(await Promise.all([1, 2, 3].map(() => airlock.sandboxes.create({ runtime }))))];
      try {
        for (const c of [1, 16]) throughput.push(await execRate(running, runtime, N.execs, c));
      } finally {
        await Promise.all(running.slice(1).map((s) => s.destroy()));
      }

      densities[runtime] = await density(airlock, runtime, N.idle, N.cpuWindowMs);
    } finally {
      await sb.destroy();
    }
  }

  const warm = await warmTti(mkdtempSync('/tmp/airlock-bench-pools-'), key, N.warm, RUNTIMES);
  rows.push(...warm.rows.map((r) => ({ ...r, baseline: rows.find((x) => x.runtime === r.runtime && x.metric.endsWith('(cold)'))?.baseline })));
  pools = warm.pools;
  rows.push(...(await cliRows(server.url, key, N.cli)));
  rows.push(...(await benchAdopt(key, N.adopt, N.restarts)));
  // After the warm pools: QEMU guests under TCG take both cores for seconds and would be the noise
  // the pool's rows are measured in.
  rows.push(
    ...(await benchMicrovm(
      airlock,
      server.url,
      dataDir,
      quick ? { boots: 2, execs: 20, idle: 2, teardown: 2 } : { boots: 5, execs: 100, idle: 4, teardown: 5 },
    )),
  );
  rows.push(...(await benchImages(airlock, server, dataDir, { pull: N.pull, prepare: N.prepare, tti: N.tti })));
  // Sandbox networks: their own server and rig (bench/src/network.ts).
  const net = await benchNetwork(quick);
  rows.push(...net.rows);
  networkNotes.push(...net.notes);
  rows.push(...(await benchBuilds(airlock, dataDir, { builds: N.builds })));
  const procs = await processBench(airlock, RUNTIMES, quick);
  rows.push(...procs.rows);
  processLines.push(...procs.lines);
  const code = await codeBench(airlock, RUNTIMES, quick);
  rows.push(...code.rows);
  processLines.push(...code.lines);
  const pooled = await codePoolBench(key, quick ? 3 : 10, ['gvisor', 'runc']);
  rows.push(...pooled.rows);
  processLines.push(...pooled.lines);
} finally {
  await server.sandboxes.destroyAll();
  await server.close();
  rmSync(dataDir, { recursive: true, force: true });
}

// Fair shares between projects: servers and clients of its own in separate processes, after this
// process's server is gone, so that none of its work (nor its event loop's priority) is in the rows.
processLines.push(...tenancyLines(quick));

const machine: Record<string, string | number> = {
  ...describeMachine(),
  loadavgBefore: loadBefore,
  loadavgAfter: spawnSync('cat', ['/proc/loadavg'], { encoding: 'utf8' }).stdout.trim(),
};
const seconds = Math.round((performance.now() - started) / 1000);
const lines = [...renderReport({ quick, machine, seconds, rows, throughput, densities, pools }), '', ...networkNotes.map((n) => `- ${n}`), '', ...processLines];
const out = fileURLToPath(new URL('../results/', import.meta.url));
mkdirSync(out, { recursive: true });
const stamp = String(machine.date).replace(/[:.]/g, '-');
const name = quick ? 'quick' : 'full';
writeFileSync(join(out, `latest-${name}.md`), lines.join('\n'));
writeFileSync(join(out, `${stamp}-${name}.json`), JSON.stringify({ machine, quick, seconds, rows, throughput, densities, pools }, null, 2));
process.stdout.write(lines.join('\n'));
