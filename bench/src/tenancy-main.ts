/**
 * `node bench/dist/tenancy-main.js [--quick]`: fair shares between projects. A quiet project's exec
 * and create latency (p50/p95) alone, then while another project floods execs and creates, reported
 * as the ratio flooded/alone (the bound: p95 ratio ≤ 1.25). Measured, never asserted: on a
 * shared two-core machine the figure says how much one tenant's flood costs another, not how fast
 * the server is. The flooding project runs with its in-flight quota (`execs`) as an operator would
 * set it for a tenant; the row says which. Writes bench/results/latest-tenancy.md.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { loadavg } from 'node:os';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { Airlock, type Sandbox } from '@airlock/sdk';
import { summarize, timeIt, type Summary } from './stats.js';
import { publish } from './standalone.js';

const quick = process.argv.includes('--quick');
const runtime = 'runc' as const;
const n = { exec: quick ? 40 : 200, create: quick ? 6 : 20 };
const flood = { execs: 8, creates: 2 };
/** The flooding project's execs quota: as generous as the flood (8), and as an operator would cap a tenant (2). */
const EXEC_QUOTAS = [8, 2];
const key = 'bench-key-0123456789abcdefghij';
const script = (name: string) => fileURLToPath(new URL(`./${name}.js`, import.meta.url));

/** A child process of this benchmark and the first stdout line that starts with `prefix`. */
function child(args: string[], prefix: string): { proc: ChildProcess; line: Promise<string>; lines: string[] } {
  const proc = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'inherit'] });
  const lines: string[] = [];
  const line = new Promise<string>((resolve, reject) => {
    createInterface({ input: proc.stdout! }).on('line', (l) => {
      lines.push(l);
      if (l.startsWith(prefix)) resolve(l.slice(prefix.length));
    });
    proc.once('exit', (code) => reject(new Error(`${args[0]} exited with ${code} before printing ${prefix}`)));
  });
  return { proc, line, lines };
}

const exited = (proc: ChildProcess) => new Promise<void>((resolve) => (proc.exitCode !== null ? resolve() : proc.once('exit', () => resolve())));

// Three processes, as in a deployment: the server, the noisy tenant's client, and this one (the quiet tenant's).
const server = child([script('tenancy-server'), key], 'AIRLOCK_BENCH_URL=');
const url = await server.line;
const admin = new Airlock({ url, apiKey: key });
const lines: string[] = [
  `# Airlock fair shares between projects ${quick ? '(quick)' : ''}`,
  '',
  new Date().toISOString(),
  '',
  `Load average at the start: ${load()}.`,
  '',
];
function load(): string {
  return loadavg()
    .map((x) => x.toFixed(1))
    .join(' ');
}

async function project(name: string, quotas: Record<string, number | null> = {}): Promise<string> {
  await admin.projects.create(name, { quotas });
  return (await admin.keys.create(name, { role: 'project' })).key;
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
  const quiet = new Airlock({ url, apiKey: await project('quiet') });
  const sb = await quiet.sandboxes.create({ runtime });
  lines.push(
    '| flood (project "noisy") | metric (project "quiet") | alone p50 / p95 ms | flooded p50 / p95 ms | p95 ratio (bound 1.25) |',
    '|---|---|---|---|---|',
  );
  for (const execQuota of EXEC_QUOTAS) {
    const noisyKey = await project(`noisy-${execQuota}`, { execs: execQuota, sandboxes: 50 });
    const alone = await measure(quiet, sb);

    // The flood, from its own process: execs in a tight loop from several clients, creates and destroys from others.
    const noisy = child([script('tenancy-flood'), url, noisyKey, String(flood.execs), String(flood.creates)], 'FLOODING');
    await noisy.line;
    await new Promise((r) => setTimeout(r, 1000));
    const flooded = await measure(quiet, sb);
    noisy.proc.kill('SIGTERM');
    await exited(noisy.proc);
    const done = JSON.parse(noisy.lines.at(-1) ?? '{}') as { execs?: number; creates?: number; refused?: number };

    const ratio = (a: number, b: number) => Math.round((a / b) * 100) / 100;
    const what = `${flood.execs} exec loops (quota execs=${execQuota}) + ${flood.creates} create loops: ${done.execs} execs and ${done.creates} creates done, ${done.refused} refused`;
    lines.push(
      `| ${what} | exec \`true\` (n=${n.exec}) | ${alone.exec.p50} / ${alone.exec.p95} | ${flooded.exec.p50} / ${flooded.exec.p95} | ${ratio(flooded.exec.p95, alone.exec.p95)} |`,
      `| ${what} | create + destroy (n=${n.create}) | ${alone.create.p50} / ${alone.create.p95} | ${flooded.create.p50} / ${flooded.create.p95} | ${ratio(flooded.create.p95, alone.create.p95)} |`,
    );
  }
  await sb.destroy();
  lines.push(
    '',
    `Runtime ${runtime}; each exec of the flood is a short busy loop in its sandbox (cpu 1). Server, noisy client and quiet client in three processes. Load average at the end: ${load()} (a shared machine).`,
  );
} finally {
  server.proc.kill('SIGTERM');
  await exited(server.proc);
}
publish('tenancy', lines);
