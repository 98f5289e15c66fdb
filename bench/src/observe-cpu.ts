/**
 * `node bench/dist/observe-cpu.js [--execs N]`: the server's own CPU time per exec round trip, with
 * observation on and off, each server in a process of its own (read from /proc/<pid>/stat, so the
 * host's scheduling noise, which swamps a 3% latency difference on a shared machine, does not enter).
 * Runs `exec true` N times against each, alternating blocks. Result on stderr and in
 * bench/results/observe-cpu.json.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { Airlock } from '@airlock/sdk';

const at = process.argv.indexOf('--execs');
const execs = at === -1 ? 3000 : Number(process.argv[at + 1]);
const BLOCK = 250;
const TICK_MS = 1000 / 100; // USER_HZ
const SERVER = join(dirname(fileURLToPath(import.meta.resolve('@airlock/testkit'))), 'server-process.js');
const KEY = 'test-key-0123456789abcdef-airlock';

function cpuMs(pid: number): number {
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return (Number(f[11]) + Number(f[12])) * TICK_MS;
}

async function start(enabled: boolean, dirs: string[], children: ChildProcess[]) {
  const dataDir = mkdtempSync('/tmp/airlock-bench-observe-cpu-');
  dirs.push(dataDir);
  const config = join(dataDir, 'config.json');
  writeFileSync(config, JSON.stringify({ network: { uplinks: [] }, observe: { enabled, logFormat: 'json' } }));
  // Log lines at info go to /dev/null, as to a collector.
  const child = spawn(process.execPath, [SERVER, dataDir, 'info'], { stdio: ['ignore', 'pipe', 'ignore'], env: { ...process.env, AIRLOCK_CONFIG: config } });
  children.push(child);
  const url = await new Promise<string>((resolve, reject) => {
    createInterface({ input: child.stdout! }).on('line', (l) => l.startsWith('AIRLOCK_TEST_URL=') && resolve(l.slice(17)));
    child.once('exit', (c) => reject(new Error(`server exited ${c}`)));
  });
  const sb = await new Airlock({ url, apiKey: KEY }).sandboxes.create({ runtime: 'runc' });
  for (let i = 0; i < 20; i++) await sb.exec(['true']);
  return { enabled, pid: child.pid!, sb, cpu: 0, n: 0, wallMs: 0 };
}

const dirs: string[] = [];
const children: ChildProcess[] = [];
try {
  const sides = [await start(true, dirs, children), await start(false, dirs, children)];
  for (let done = 0; done < execs; done += BLOCK) {
    for (const s of done % (2 * BLOCK) === 0 ? sides : [...sides].reverse()) {
      const c0 = cpuMs(s.pid);
      const t0 = performance.now();
      for (let i = 0; i < BLOCK; i++) await s.sb.exec(['true']);
      s.wallMs += performance.now() - t0;
      s.cpu += cpuMs(s.pid) - c0;
      s.n += BLOCK;
    }
  }
  const per = (s: (typeof sides)[number]) => ({
    cpuMsPerExec: Math.round((s.cpu / s.n) * 1000) / 1000,
    wallMsPerExec: Math.round((s.wallMs / s.n) * 1000) / 1000,
    execs: s.n,
  });
  const on = per(sides[0]!);
  const off = per(sides[1]!);
  const result = {
    what: "the server process's CPU time (user + system) per `exec true` round trip in a runc sandbox, observation on vs off",
    on,
    off,
    cpuOverheadPercent: Math.round(((on.cpuMsPerExec - off.cpuMsPerExec) / off.cpuMsPerExec) * 1000) / 10,
    cpuOverheadUsPerExec: Math.round((on.cpuMsPerExec - off.cpuMsPerExec) * 1000),
    wallOverheadPercent: Math.round(((on.wallMsPerExec - off.wallMsPerExec) / off.wallMsPerExec) * 1000) / 10,
  };
  const out = fileURLToPath(new URL('../results/', import.meta.url));
  mkdirSync(out, { recursive: true });
  writeFileSync(join(out, 'observe-cpu.json'), `${JSON.stringify(result, null, 2)}\n`);
  process.stderr.write(`${JSON.stringify(result, null, 2)}\n`);
  for (const s of sides) await s.sb.destroy().catch(() => {});
} finally {
  for (const c of children) {
    const exited = new Promise((r) => c.once('exit', r));
    c.kill('SIGTERM');
    await exited;
  }
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
}
