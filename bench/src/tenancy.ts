/**
 * The fair-share rows of `npm run bench`: tenancy-main.js in a process of its own (it starts its
 * own server and clients, and its quiet client is that process), its report folded in under a
 * heading. A run that fails leaves a line that says so; the rest of the bench is not lost.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

export function tenancyLines(quick: boolean): string[] {
  const script = fileURLToPath(new URL('./tenancy-main.js', import.meta.url));
  const run = spawnSync(process.execPath, [script, ...(quick ? ['--quick'] : [])], { stdio: ['ignore', 'ignore', 'inherit'], timeout: 20 * 60_000 });
  if (run.status !== 0) return ['', '## Fair shares between projects', '', `Not measured: tenancy-main.js ended with ${run.signal ?? `exit ${run.status}`}.`];
  const report = readFileSync(fileURLToPath(new URL('../results/latest-tenancy.md', import.meta.url)), 'utf8')
    .trim()
    .split('\n');
  // Its own title becomes a section of this report.
  return ['', `## Fair shares between projects (bench/results/latest-tenancy.md)`, ...report.slice(1)];
}
