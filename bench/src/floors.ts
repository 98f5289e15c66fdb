/**
 * @module floors
 * What an exec cannot go below, measured in the same run as Airlock's exec: fork + execve + waitpid
 * of /bin/true from a small static C program, on the host and inside a sandbox of each runtime (in
 * gVisor the sentry pays for every fork and exec, so its floor is far above the host's). And what
 * the CLI costs to start: `airlock ls` against a live server next to `node -e 0`.
 */
import { execFile, execFileSync } from 'node:child_process';
import { promisify } from 'node:util';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import type { Sandbox } from '@airlock/sdk';
import type { Row } from './report.js';
import { summarize, timeIt, type Summary } from './stats.js';

const SOURCE = fileURLToPath(new URL('../native/fork-exec-floor.c', import.meta.url));
const CLI = fileURLToPath(new URL('../../packages/cli/dist/main.js', import.meta.url));

/** Builds the floor program once, statically, so that it runs in any sandbox image. */
export function buildFloor(): Uint8Array {
  const dir = mkdtempSync('/tmp/airlock-bench-floor-');
  try {
    const out = join(dir, 'floor');
    execFileSync('cc', ['-O2', '-static', '-o', out, SOURCE], { stdio: ['ignore', 'ignore', 'pipe'] });
    return readFileSync(out);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function samples(stdout: string): Summary {
  const us = stdout.trim().split('\n').map(Number);
  if (us.length === 0 || us.some((x) => !Number.isFinite(x))) throw new Error(`the floor program printed ${JSON.stringify(stdout.slice(0, 200))}`);
  return summarize(us.map((x) => x / 1000));
}

export function hostFloor(binary: Uint8Array, n: number): Summary {
  const dir = mkdtempSync('/tmp/airlock-bench-floor-');
  try {
    const path = join(dir, 'floor');
    writeFileSync(path, binary, { mode: 0o755 });
    return samples(execFileSync(path, [String(n)], { encoding: 'utf8' }));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** The floor inside a running sandbox: the same binary, uploaded and run there. */
export async function sandboxFloor(sb: Sandbox, binary: Uint8Array, n: number): Promise<Summary> {
  await sb.files.write('/tmp/airlock-floor', binary, { mode: 0o755 });
  const r = await sb.exec(['/tmp/airlock-floor', String(n)]);
  if (r.exitCode !== 0) throw new Error(`the floor program exited ${r.exitCode}: ${r.stderr}`);
  return samples(r.stdout);
}

/** `airlock ls` against the bench's server, and `node -e 0`: how much of the CLI's start is Node's own. */
export async function cliRows(url: string, apiKey: string, n: number): Promise<Row[]> {
  const env = { ...process.env, AIRLOCK_URL: url, AIRLOCK_API_KEY: apiKey };
  // Asynchronous: the server answering `airlock ls` runs in this same process.
  const run = (args: string[]) => () => promisify(execFile)(process.execPath, args, { env });
  const node = summarize(await timeIt(n, run(['-e', '0']), 1));
  return [
    {
      metric: 'CLI: airlock ls (process start to exit)',
      runtime: 'host',
      airlock: summarize(await timeIt(n, run([CLI, 'ls']), 1)),
      baseline: { name: 'node -e 0', summary: node },
    },
    {
      metric: 'CLI: airlock --version',
      runtime: 'host',
      airlock: summarize(await timeIt(n, run([CLI, '--version']), 1)),
      baseline: { name: 'node -e 0', summary: node },
    },
  ];
}
