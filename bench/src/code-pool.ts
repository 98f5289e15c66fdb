/**
 * @module code-pool
 * The interpreter's first cell from a warm pool of the `code-interpreter` image, whose pooled
 * sandboxes pre-start a Python context with numpy, pandas and matplotlib imported (issue #14's
 * goal on gVisor: under 150 ms). The image is built as a user builds it (`buildBuiltin`, the base
 * from mmdebstrap, cached by its package list), on a server of its own; a second server on the
 * same data dir keeps the pool, as an operator's config file would. Next to it, the same cell in a
 * sandbox that did not come from a pool (the imports paid by the cell): the control that shows the
 * pool is what makes the difference.
 */
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Airlock, type Execution } from '@airlock/sdk';
import { startServer, type RunningServer } from '@airlock/server';
import { buildBuiltin } from '@airlock/cli/dist/builtin-images.js';
import type { Row } from './report.js';
import { summarize } from './stats.js';
import { untilFull } from './warm.js';

const IMAGE = 'airlock/code-interpreter:1';
const PRELOAD = ['numpy', 'pandas', 'matplotlib.pyplot'];
/** What a first cell of an "analyse this data" loop does; `warm` says whether the imports were already there. */
const CELL =
  'import sys\nwarm = "pandas" in sys.modules\nimport numpy, pandas, matplotlib.pyplot as plt\ndf = pandas.DataFrame({"a": numpy.arange(10)})\n(warm, int(df["a"].sum()))';

export interface CodePoolBench {
  rows: Row[];
  lines: string[];
}

function check(ex: Execution, warm: boolean): void {
  const want = `(${warm ? 'True' : 'False'}, 45)`;
  if (ex.error || ex.results[0]?.text !== want) throw new Error(`first cell: expected ${want}, got ${JSON.stringify(ex.error ?? ex.results)}`);
}

async function server(dataDir: string, key: string, config?: object): Promise<RunningServer> {
  const prior = process.env.AIRLOCK_CONFIG;
  if (config) {
    const file = join(dataDir, '..', `pool-config-${process.pid}.json`);
    writeFileSync(file, JSON.stringify(config));
    process.env.AIRLOCK_CONFIG = file;
  }
  try {
    return await startServer({ dataDir, port: 0, apiKey: key, logLevel: 'warn', network: { uplinks: [] } }, { print: () => {} });
  } finally {
    if (prior === undefined) delete process.env.AIRLOCK_CONFIG;
    else process.env.AIRLOCK_CONFIG = prior;
  }
}

/**
 * Rows for gVisor (the goal's runtime) and runc. A machine without mmdebstrap, or whose Debian
 * mirror is out of reach, gets a line saying why instead of rows: the rest of the bench still runs.
 */
export async function codePoolBench(key: string, n: number, runtimes: readonly ('gvisor' | 'runc')[]): Promise<CodePoolBench> {
  const lines = ['', '## Code interpreter: first cell from a warm pool of the code-interpreter image', ''];
  if (spawnSync('mmdebstrap', ['--version']).status !== 0) return { rows: [], lines: [...lines, 'Not measured: mmdebstrap is not installed.'] };
  const root = mkdtempSync('/tmp/airlock-bench-code-pool-');
  chmodSync(root, 0o711); // the sandboxes' unprivileged users walk through it to their rootfs
  const dataDir = join(root, 'data');
  const rows: Row[] = [];
  let srv: RunningServer | undefined;
  try {
    srv = await server(dataDir, key);
    const t0 = performance.now();
    await buildBuiltin(new Airlock({ url: srv.url, apiKey: key }), 'code-interpreter', { runtime: 'runc' });
    lines.push(`Image built (or its cached base imported and its Dockerfile built) in ${((performance.now() - t0) / 1000).toFixed(1)} s.`, '');
    await srv.close();
    srv = undefined;

    for (const runtime of runtimes) {
      const shape = { runtime, image: IMAGE, memoryMiB: 1024 };
      srv = await server(dataDir, key, { pools: [{ ...shape, size: 2, codeContext: { preload: PRELOAD } }] });
      const airlock = new Airlock({ url: srv.url, apiKey: key });
      const first: number[] = [];
      const claimed: number[] = [];
      for (let i = -1; i < n; i++) {
        await untilFull(airlock, runtime, 300_000); // no refill competes with the sample for the two cores
        const t0 = performance.now();
        const sb = await airlock.sandboxes.create(shape);
        const t1 = performance.now();
        const ex = await sb.runCode(CELL);
        const t2 = performance.now();
        check(ex, true);
        if (i >= 0) {
          claimed.push(t2 - t0);
          first.push(t2 - t1);
        }
        await sb.destroy();
      }
      // The control: the same cell where no pool pre-started the context (env makes the claim
      // refuse the pooled context, as it must for a claimant with env of its own).
      const cold: number[] = [];
      for (let i = 0; i < Math.max(2, Math.ceil(n / 2)); i++) {
        const sb = await airlock.sandboxes.create({ ...shape, env: { BENCH: String(i) } });
        const t1 = performance.now();
        const ex = await sb.runCode(CELL);
        cold.push(performance.now() - t1);
        check(ex, false);
        await sb.destroy();
      }
      const baseline = { name: 'the same cell, context not pre-started', summary: summarize(cold) };
      rows.push({
        metric: 'code: first cell with numpy+pandas+matplotlib, sandbox from a warm pool (goal on gVisor < 150 ms)',
        runtime,
        airlock: summarize(first),
        baseline,
      });
      rows.push({ metric: 'code: create from the warm pool + that first cell', runtime, airlock: summarize(claimed) });
      await srv.sandboxes.destroyAll();
      await srv.close();
      srv = undefined;
    }
  } catch (e) {
    lines.push(`Not measured: ${(e as Error).message}`);
  } finally {
    if (srv) {
      await srv.sandboxes.destroyAll();
      await srv.close();
    }
    rmSync(root, { recursive: true, force: true });
  }
  return { rows, lines };
}
