/**
 * `node bench/dist/tenancy-main.js [--quick]`: fair shares between projects. A quiet project's exec
 * and create latency (p50/p95) alone, then while another project floods execs and creates, reported
 * as the ratio flooded/alone (the bound: p95 ratio ≤ 1.25). Measured, never asserted: on a
 * shared two-core machine the figure says how much one tenant's flood costs another, not how fast
 * the server is. The flooding project runs with its in-flight quota (`execs`) as an operator would
 * set it for a tenant; the row says which. Writes bench/results/latest-tenancy.md.
 * The noisy client runs on this machine too, where a real tenant's runs on its own: a third
 * configuration runs it at nice 19 as a model of that, beside the rows that do not. Each row also has
 * the server's event-loop delay (p50/p95), where the quiet tenant's time goes under the flood.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { loadavg } from 'node:os';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { Airlock, type Sandbox } from '@airlock/sdk';
import { summarize, timeIt, type Summary } from './stats.js';
import { publish } from './standalone.js';

const quick = process.argv.includes('--quick');
const runtime = 'runc' as const;
const n = { exec: quick ? 100 : 300, create: quick ? 10 : 30 };
const flood = { execs: 8, creates: 2 };
/**
 * The flooding project's execs quota, as generous as the flood (8) and as an operator would cap a
 * tenant (2); the noisy client's nice value: 0 (it competes for this machine's CPUs as an equal)
 * or 19 (as if it ran on another machine, taking only what is left over); and whether the quiet
 * client (this process) measures at real-time priority, as if it too ran on a machine of its own,
 * where the server host's load cannot delay it. The last row is a deployment's shape: what is left
 * is what the platform adds.
 */
const CONFIGS = [
  { execQuota: 8, clientNice: 0, quietRealtime: false },
  { execQuota: 2, clientNice: 0, quietRealtime: false },
  { execQuota: 8, clientNice: 19, quietRealtime: false },
  { execQuota: 8, clientNice: 19, quietRealtime: true },
];
const key = 'bench-key-0123456789abcdefghij';
const script = (name: string) => fileURLToPath(new URL(`./${name}.js`, import.meta.url));

/** A child process of this benchmark and the first stdout line that starts with `prefix`. */
function child(
  args: string[],
  prefix: string,
  nice = 0,
): { proc: ChildProcess; line: Promise<string>; lines: string[]; next(prefix: string): Promise<string> } {
  // nice(1) execs node in place: every thread of the child (not just its main one) runs at that nice value.
  const argv = nice === 0 ? [process.execPath, ...args] : ['nice', '-n', String(nice), process.execPath, ...args];
  const proc = spawn(argv[0]!, argv.slice(1), { stdio: ['ignore', 'pipe', 'inherit'] });
  const lines: string[] = [];
  const waiting: { prefix: string; resolve: (rest: string) => void }[] = [];
  const line = new Promise<string>((resolve, reject) => {
    waiting.push({ prefix, resolve });
    proc.once('exit', (code) => reject(new Error(`${args[0]} exited with ${code} before printing ${prefix}`)));
  });
  createInterface({ input: proc.stdout! }).on('line', (l) => {
    lines.push(l);
    const i = waiting.findIndex((w) => l.startsWith(w.prefix));
    if (i < 0) return;
    const w = waiting.splice(i, 1)[0]!;
    w.resolve(l.slice(w.prefix.length));
  });
  const next = (p: string) => new Promise<string>((resolve) => waiting.push({ prefix: p, resolve }));
  return { proc, line, lines, next };
}

/** This process's main thread (the quiet client's requests) at the lowest real-time priority, or back. */
function quietPriority(policy: 'realtime' | 'normal'): void {
  const args = policy === 'realtime' ? ['--rr', '--reset-on-fork', '--pid', '1'] : ['--other', '--pid', '0'];
  execFileSync('chrt', [...args, String(process.pid)]);
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
/** The server's event-loop delay p50 / p95 (ms) since the last call. */
async function loopDelay(): Promise<string> {
  const reply = server.next('LOOP_DELAY ');
  server.proc.kill('SIGUSR2');
  return (await reply).split(' ').join(' / ');
}

async function measure(quiet: Airlock, sb: Sandbox): Promise<{ exec: Summary; create: Summary; loop: string }> {
  await loopDelay();
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
  return { exec, create, loop: await loopDelay() };
}

/**
 * CPU under contention, per project: the noisy project's 3 busy sandboxes and the quiet project's
 * one, each allowed 1 CPU, for 6 s. With a cgroup level per project the two projects weigh the same;
 * with sandboxes side by side the quiet one would get a quarter of what the four got.
 */
async function cpuShares(quiet: Sandbox): Promise<string> {
  const noisy = new Airlock({ url, apiKey: await project('share-noisy') });
  const busy = [quiet, ...(await Promise.all([0, 1, 2].map(() => noisy.sandboxes.create({ runtime, cpu: 1 }))))];
  const burn = busy.map((s) => s.exec(['sh', '-c', 'timeout 10 sh -c "while :; do :; done"; true']));
  const used = async () => Promise.all(busy.map(async (s) => (await s.stats()).cpu.usageSeconds));
  await new Promise((r) => setTimeout(r, 2000));
  const before = await used();
  await new Promise((r) => setTimeout(r, 6000));
  const cpu = (await used()).map((u, i) => (u - before[i]!) / 6);
  await Promise.all(burn);
  await Promise.all(busy.slice(1).map((s) => s.destroy()));
  const noisyCpu = cpu[1]! + cpu[2]! + cpu[3]!;
  const pct = Math.round((cpu[0]! / (cpu[0]! + noisyCpu)) * 100);
  return `CPU under contention (each sandbox allowed 1 CPU, 6 s): project quiet's 1 busy sandbox ${cpu[0]!.toFixed(2)} CPU, project noisy's 3 busy sandboxes ${noisyCpu.toFixed(2)} CPU together: quiet had ${pct}% of what the two projects got (equal project weights; side by side without project levels its share would be 25%).`;
}

try {
  const quiet = new Airlock({ url, apiKey: await project('quiet') });
  const sb = await quiet.sandboxes.create({ runtime });
  lines.push(
    '| flood (project "noisy") | metric (project "quiet") | alone p50 / p95 ms | flooded p50 / p95 ms | p95 ratio (bound 1.25) | server loop delay p50 / p95 ms, alone → flooded |',
    '|---|---|---|---|---|---|',
  );
  for (const { execQuota, clientNice, quietRealtime } of CONFIGS) {
    const noisyKey = await project(`noisy-${execQuota}-${clientNice}-${quietRealtime}`, { execs: execQuota, sandboxes: 50 });
    // Alone and flooded alike: the row compares the two at the same client priority.
    if (quietRealtime) quietPriority('realtime');
    const alone = await measure(quiet, sb);

    // The flood, from its own process: execs in a tight loop from several clients, creates and destroys from others.
    const noisy = child([script('tenancy-flood'), url, noisyKey, String(flood.execs), String(flood.creates)], 'FLOODING', clientNice);
    await noisy.line;
    await new Promise((r) => setTimeout(r, 1000));
    const flooded = await measure(quiet, sb);
    if (quietRealtime) quietPriority('normal');
    noisy.proc.kill('SIGTERM');
    await exited(noisy.proc);
    const done = JSON.parse(noisy.lines.at(-1) ?? '{}') as { execs?: number; creates?: number; refused?: number };

    const ratio = (a: number, b: number) => Math.round((a / b) * 100) / 100;
    const client =
      (clientNice === 0 ? '' : `, noisy client at nice ${clientNice} (as if on another machine)`) +
      (quietRealtime ? ', quiet client at real-time priority (as if on a machine of its own)' : '');
    const what = `${flood.execs} exec loops (quota execs=${execQuota}) + ${flood.creates} create loops${client}: ${done.execs} execs and ${done.creates} creates done, ${done.refused} refused`;
    const loop = `${alone.loop} → ${flooded.loop}`;
    lines.push(
      `| ${what} | exec \`true\` (n=${n.exec}) | ${alone.exec.p50} / ${alone.exec.p95} | ${flooded.exec.p50} / ${flooded.exec.p95} | ${ratio(flooded.exec.p95, alone.exec.p95)} | ${loop} |`,
      `| ${what} | create + destroy (n=${n.create}) | ${alone.create.p50} / ${alone.create.p95} | ${flooded.create.p50} / ${flooded.create.p95} | ${ratio(flooded.create.p95, alone.create.p95)} | ${loop} |`,
    );
  }
  const shares = await cpuShares(sb);
  await sb.destroy();
  lines.push(
    '',
    shares,
    '',
    `Runtime ${runtime}; each exec of the flood is a short busy loop in its sandbox (cpu 1). Server, noisy client and quiet client in three processes; the server's event loop at its default real-time priority (tenancy.controlPlane); each project's runtime work and shims in its level's ops leaf; sandboxes in cgroups per project (/airlock/project-<hash>/<id>, equal CPU weight). Load average at the end: ${load()} (a shared machine).`,
  );
} finally {
  server.proc.kill('SIGTERM');
  await exited(server.proc);
}
publish('tenancy', lines);
