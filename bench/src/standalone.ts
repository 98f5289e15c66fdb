/**
 * @module standalone
 * What the benchmarks that run on their own (code-main, processes-main, tenancy-main) share: their
 * server's teardown, the table of their rows, and where their report goes.
 */
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { startServer } from '@airlock/server';
import type { Row } from './report.js';

type Server = Awaited<ReturnType<typeof startServer>>;

/** Destroys what the benchmark left, stops its server and removes its data dir. */
export async function stopServer(server: Server, dataDir: string): Promise<void> {
  await server.sandboxes.destroyAll();
  await server.close();
  rmSync(dataDir, { recursive: true, force: true });
}

/** The rows as a Markdown table of their percentiles. */
export function percentileTable(rows: Row[]): string[] {
  return [
    '',
    '| metric | runtime | p50 / p95 / p99 ms |',
    '|---|---|---|',
    ...rows.map((row) => `| ${row.metric} | ${row.runtime} | ${row.airlock?.p50} / ${row.airlock?.p95} / ${row.airlock?.p99} (n=${row.airlock?.n}) |`),
  ];
}

/** Writes the report to bench/results/latest-<name>.md and to stdout. */
export function publish(name: string, lines: string[]): void {
  const out = fileURLToPath(new URL('../results/', import.meta.url));
  mkdirSync(out, { recursive: true });
  writeFileSync(join(out, `latest-${name}.md`), `${lines.join('\n')}\n`);
  process.stdout.write(`${lines.join('\n')}\n`);
}
