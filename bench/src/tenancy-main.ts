/**
 * `node bench/dist/tenancy-main.js [--quick]`: fair shares between projects. A quiet project's exec
 * and create latency (p50/p95) alone, then while another project floods execs and creates, reported
 * as the ratio flooded/alone (the bound: p95 ratio ≤ 1.25). Measured, never asserted: on a
 * shared two-core machine the figure says how much one tenant's flood costs another, not how fast
 * the server is. The flooding project runs with its in-flight quota (`execs`) as an operator would
 * set it for a tenant; the row says which. Writes bench/results/latest-tenancy.md.
 */
import { mkdtempSync } from 'node:fs';
import { loadavg } from 'node:os';
import { Airlock, type Sandbox } from '@airlock/sdk';
import { startServer } from '@airlock/server';
import { summarize, timeIt, type Summary } from './stats.js';
import { publish, stopServer } from './standalone.js';

const quick = process.argv.includes('--quick');
const runtime = 'runc' as const;
const n = { exec: quick ? 40 : 200, create: quick ? 6 : 20 };
const flood = { execs: 8, creates: 2 };
/** The flooding project's execs quota: as generous as the flood (8), and as an operator would cap a tenant (2). */
const EXEC_QUOTAS = [8, 2];

const dataDir = mkdtempSync('/tmp/airlock-bench-');
const key = 'bench-key-0123456789abcdefghij';
const server = await startServer({ dataDir, port: 0, apiKey: key, logLevel: 'warn', tenancy: { rate: { perSecond: 1e6, burst: 1e6 } } }, { print: () => {} });
const admin = new Airlock({ url: server.url, apiKey: key });
const lines: string[] = [`# Airlock fair shares between projects ${quick ? '(quick)' : ''}`, '', new Date().toISOString(), ''];

async function project(name: string, quotas: Record<string, number | null> = {}): Promise<Airlock> {
  await admin.projects.create(name, { quotas });
  return new Airlock({ url: server.url, apiKey: (await admin.keys.create(name, { role: 'project' })).key });
}

async function measure(quiet: Airlock, sb: Sandbox): Promise<{ exec: Summary; create: Summary }> {
  const exec = summarize(await timeIt(n.exec, () => sb.exec(['true'])));
  const create = summarize(
    await timeIt(
      n.create,
      async () => {
        const s = await quiet.sandboxes.create({ runtime });
        await s.destroy();
      },
      1,
    ),
  );
  return { exec, create };
}

try {
  const quiet = await project('quiet');
  const sb = await quiet.sandboxes.create({ runtime });
  lines.push(
    '| flood (project "noisy") | metric (project "quiet") | alone p50 / p95 ms | flooded p50 / p95 ms | p95 ratio (bound 1.25) |',
    '|---|---|---|---|---|',
  );
  for (const execQuota of EXEC_QUOTAS) {
    const noisy = await project(`noisy-${execQuota}`, { execs: execQuota, sandboxes: 50 });
    const alone = await measure(quiet, sb);

    // The flood: execs in a tight loop from several clients, creates and destroys from others.
    let stop = false;
    let floodExecs = 0;
    let floodRefused = 0;
    const target = await noisy.sandboxes.create({ runtime });
    const loops = [
      ...Array.from({ length: flood.execs }, async () => {
        while (!stop) {
          try {
            await target.exec(['sh', '-c', 'i=0; while [ $i -lt 2000 ]; do i=$((i+1)); done']);
            floodExecs++;
          } catch {
            floodRefused++; // over its quota: 429, as designed
          }
        }
      }),
      ...Array.from({ length: flood.creates }, async () => {
        while (!stop) {
          try {
            const s = await noisy.sandboxes.create({ runtime });
            await s.destroy();
          } catch {
            floodRefused++;
          }
        }
      }),
    ];
    await new Promise((r) => setTimeout(r, 1000));
    const flooded = await measure(quiet, sb);
    stop = true;
    await Promise.all(loops);
    await target.destroy();

    const ratio = (a: number, b: number) => Math.round((a / b) * 100) / 100;
    const what = `${flood.execs} exec loops (quota execs=${execQuota}: ${floodExecs} done, ${floodRefused} refused) + ${flood.creates} create loops`;
    lines.push(
      `| ${what} | exec \`true\` (n=${n.exec}) | ${alone.exec.p50} / ${alone.exec.p95} | ${flooded.exec.p50} / ${flooded.exec.p95} | ${ratio(flooded.exec.p95, alone.exec.p95)} |`,
      `| ${what} | create + destroy (n=${n.create}) | ${alone.create.p50} / ${alone.create.p95} | ${flooded.create.p50} / ${flooded.create.p95} | ${ratio(flooded.create.p95, alone.create.p95)} |`,
    );
  }
  await sb.destroy();
  lines.push(
    '',
    `Runtime ${runtime}; each exec of the flood is a short busy loop in its sandbox (cpu 1). Load average at the end: ${loadavg()
      .map((x) => x.toFixed(1))
      .join(' ')} (a shared machine).`,
  );
} finally {
  await stopServer(server, dataDir);
}
publish('tenancy', lines);
