/**
 * @module spawn-server
 * Test support: a server in a child process (server-process.ts) on a data dir, for tests that kill
 * it or measure its memory apart from the test's own. The caller kills what it spawned.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { Api, TEST_KEY } from './harness.js';

const SERVER = fileURLToPath(new URL('./server-process.js', import.meta.url));

/** `opts.onLine` gets every line the server writes (its log, on stdout and stderr), at `opts.logLevel`. */
export async function spawnServer(
  dataDir: string,
  children: ChildProcess[],
  opts: { logLevel?: string; onLine?: (line: string) => void } = {},
): Promise<{ child: ChildProcess; api: Api }> {
  const child = spawn(process.execPath, [SERVER, dataDir, ...(opts.logLevel ? [opts.logLevel] : [])], {
    stdio: ['ignore', 'pipe', opts.onLine ? 'pipe' : 'inherit'],
  });
  children.push(child);
  if (opts.onLine) createInterface({ input: child.stderr! }).on('line', opts.onLine);
  const url = await new Promise<string>((resolve, reject) => {
    createInterface({ input: child.stdout! }).on('line', (line) => {
      opts.onLine?.(line);
      if (line.startsWith('AIRLOCK_TEST_URL=')) resolve(line.slice('AIRLOCK_TEST_URL='.length));
    });
    child.once('exit', (code) => reject(new Error(`server exited with ${code}`)));
  });
  return { child, api: new Api(url, TEST_KEY) };
}

/** Resident memory of a process, in bytes (from /proc). */
export function rssOf(pid: number): number {
  return Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1]) * 1024;
}
