/**
 * The code interpreter with the code-interpreter image (python3 with numpy, pandas, matplotlib,
 * seaborn; node), through the SDK as a new user would use it: the "analyse this CSV" loop (upload
 * a CSV, load it with pandas, plot a column, get a PNG and chart data back, use the frame again),
 * a matplotlib PNG decoded and measured, a DataFrame's structured table, chart data for each plot
 * type, figures at plt.show(), SVG on request. On runc and gVisor (bwrap runs only the default
 * image). The image is built by `airlock image build-builtin code-interpreter`'s own code into this
 * test's server: its Debian base comes from mmdebstrap, cached after the first build.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { after, before, describe, test } from 'node:test';
import { Airlock, type Execution, type Sandbox } from '@airlock/sdk';
import { TEST_KEY, newDataDir, recordSandbox, startTestServer, type TestServer } from '@airlock/testkit';
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { testRoot } from '@airlock/testkit';
import { buildBuiltin } from '../builtin-images.js';
import { runCli } from './run-cli.js';

const IMAGE = 'airlock/code-interpreter:1';
const noMmdebstrap =
  spawnSync('mmdebstrap', ['--version']).status === 0 ? false : 'mmdebstrap is not installed: the code-interpreter base cannot be built here';

/** Width and height from a PNG's IHDR, after checking its signature. */
function pngSize(b64: string): { width: number; height: number } {
  const b = Buffer.from(b64, 'base64');
  assert.deepEqual([...b.subarray(0, 8)], [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a], 'the PNG signature');
  assert.equal(b.toString('latin1', 12, 16), 'IHDR', 'the first chunk is IHDR');
  assert.equal(b.toString('latin1', b.length - 8, b.length - 4), 'IEND', 'the last chunk is IEND');
  return { width: b.readUInt32BE(16), height: b.readUInt32BE(20) };
}

const ok = (ex: Execution) => {
  assert.equal(ex.error, null, JSON.stringify(ex.error));
  return ex;
};

describe('the code interpreter with the code-interpreter image', { timeout: 20 * 60_000, skip: noMmdebstrap }, () => {
  let t: TestServer;
  let airlock: Airlock;
  const dataDir = newDataDir('code-image');

  before(async () => {
    t = await startTestServer(dataDir);
    airlock = new Airlock({ url: t.server.url, apiKey: TEST_KEY });
    const started = Date.now();
    await buildBuiltin(airlock, 'code-interpreter', { runtime: 'runc' });
    process.stderr.write(`code-interpreter image ready in ${((Date.now() - started) / 1000).toFixed(1)} s\n`);
  });
  after(async () => {
    await t?.close();
  });

  for (const runtime of ['runc', 'gvisor'] as const) {
    describe(runtime, () => {
      let sandbox: Sandbox;
      before(async () => {
        sandbox = await airlock.sandboxes.create({ runtime, image: IMAGE, memoryMiB: 1024 });
        recordSandbox(sandbox.id);
      });

      test('analyse this CSV: load with pandas, plot a column (PNG and chart data), use the frame again', { timeout: 300_000 }, async () => {
        const csv = 'day,visitors,signups\n' + Array.from({ length: 30 }, (_, i) => `${i + 1},${100 + i * 7},${(i * 3) % 11}`).join('\n') + '\n';
        await sandbox.files.write('/home/user/work/visits.csv', csv);
        const load = ok(await sandbox.runCode('import pandas as pd\ndf = pd.read_csv("visits.csv")\ndf.head(3)'));
        const table = load.results[0]!;
        assert.equal(table.isMainResult, true);
        assert.match(table.html ?? '', /<table/);
        assert.deepEqual(table.data, {
          type: 'dataframe',
          columns: ['day', 'visitors', 'signups'],
          index: [0, 1, 2],
          rows: [
            [1, 100, 0],
            [2, 107, 3],
            [3, 114, 6],
          ],
          dtypes: { day: 'int64', visitors: 'int64', signups: 'int64' },
          shape: [3, 3],
          truncated: false,
        });
        const seen: string[] = [];
        const plot = ok(
          await sandbox.runCode(
            'import matplotlib.pyplot as plt\nfig = plt.figure(figsize=(4, 3), dpi=50)\nplt.plot(df["day"], df["visitors"], label="visitors")\nplt.title("Visitors")\nplt.xlabel("day")\nplt.ylabel("people (count)")\nprint("plotted")',
            {
              onResult: (r) => seen.push(r.png ? 'png' : 'other'),
              // print() writes its text and its newline apart: consecutive chunks are one here.
              onStdout: (s) => (seen.length > 0 && seen.at(-1) !== 'png' && seen.at(-1) !== 'other' ? (seen[seen.length - 1] += s) : seen.push(s)),
            },
          ),
        );
        assert.deepEqual(seen, ['plotted\n', 'png'], 'callbacks as the events came');
        const fig = plot.results[0]!;
        assert.deepEqual(pngSize(fig.png!), { width: 200, height: 150 });
        const chart = fig.chart as any;
        assert.equal(chart.type, 'line');
        assert.equal(chart.title, 'Visitors');
        assert.deepEqual([chart.x_label, chart.y_label, chart.y_unit], ['day', 'people (count)', 'count']);
        assert.equal(chart.elements[0].label, 'visitors');
        assert.equal(chart.elements[0].points.length, 30);
        assert.deepEqual(chart.elements[0].points[2], [3, 114]);
        const again = ok(await sandbox.runCode('int(df["visitors"].sum())'));
        assert.equal(again.results[0]!.text, String(Array.from({ length: 30 }, (_, i) => 100 + i * 7).reduce((a, b) => a + b)));
      });

      test('chart data for bar, scatter and pie plots; several axes are a superchart', { timeout: 180_000 }, async () => {
        const bar = ok(
          await sandbox.runCode('import matplotlib.pyplot as plt\nplt.bar(["a", "b", "c"], [3, 5, 2], label="count")\nplt.title("Bars")\nplt.show()'),
        );
        const b = bar.results[0]!.chart as any;
        assert.equal(b.type, 'bar');
        assert.deepEqual(
          b.elements.map((e: any) => [e.label, e.value]),
          [
            ['a', 3],
            ['b', 5],
            ['c', 2],
          ],
        );
        const scatter = ok(await sandbox.runCode('plt.scatter([1, 2, 3], [4, 5, 6], label="pts")\nplt.show()'));
        const s = scatter.results[0]!.chart as any;
        assert.equal(s.type, 'scatter');
        assert.deepEqual(s.elements[0].points, [
          [1, 4],
          [2, 5],
          [3, 6],
        ]);
        const pie = ok(await sandbox.runCode('plt.pie([1, 3], labels=["small", "big"])\nplt.show()'));
        const p = pie.results[0]!.chart as any;
        assert.equal(p.type, 'pie');
        assert.deepEqual(
          p.elements.map((e: any) => [e.label, Math.round(e.angle)]),
          [
            ['small', 90],
            ['big', 270],
          ],
        );
        const multi = ok(
          await sandbox.runCode('fig, (a1, a2) = plt.subplots(1, 2)\na1.plot([1, 2], [3, 4])\na2.bar(["x"], [1])\nfig.suptitle("two")\nplt.show()'),
        );
        const m = multi.results[0]!.chart as any;
        assert.deepEqual([m.type, m.title, m.elements.map((e: any) => e.type)], ['superchart', 'two', ['line', 'bar']]);
      });

      test('figures at plt.show() and at the end of the cell, in order; SVG on request; no figure left behind', { timeout: 180_000 }, async () => {
        const ex = ok(
          await sandbox.runCode('import matplotlib.pyplot as plt\nplt.plot([1, 2])\nplt.show()\nprint("between")\nplt.figure()\nplt.plot([3, 4])\n"done"'),
        );
        assert.deepEqual(
          ex.results.map((r) => (r.isMainResult ? r.text : r.png ? 'png' : '?')),
          ['png', "'done'", 'png'],
          'the shown figure, the value, then the figure still open at the end',
        );
        const svg = ok(await sandbox.runCode('plt.plot([1, 2])', { figureFormats: ['svg'] }));
        const fig = svg.results.find((r) => r.svg);
        assert.match(fig?.svg ?? '', /<svg/);
        assert.equal(fig?.png, undefined);
        const none = ok(await sandbox.runCode('len(plt.get_fignums())'));
        assert.equal(none.results[0]!.text, '0');
      });

      test(
        'airlock code ID --file cell.py prints the output and value and saves the figure as a PNG file; a failing cell exits 1',
        { timeout: 180_000 },
        async () => {
          const dir = mkdtempSync(join(testRoot(), 'code-cli-'));
          writeFileSync(
            join(dir, 'cell.py'),
            'import matplotlib.pyplot as plt\nplt.figure(figsize=(2, 2), dpi=50)\nplt.plot([1, 2])\nprint("from the cell")\n6 * 7\n',
          );
          const env = { PATH: process.env.PATH, AIRLOCK_URL: t.server.url, AIRLOCK_API_KEY: TEST_KEY };
          const r = await runCli(env, ['code', sandbox.id, '--file', join(dir, 'cell.py'), '--out', join(dir, 'out')]);
          assert.equal(r.code, 0, r.stderr);
          assert.match(r.stdout, /^from the cell\n42\n\[png saved as .*\.png\]\n$/);
          const files = readdirSync(join(dir, 'out'));
          assert.equal(files.length, 1);
          assert.deepEqual(pngSize(readFileSync(join(dir, 'out', files[0]!)).toString('base64')), { width: 100, height: 100 });
          const piped = await runCli(env, ['code', sandbox.id], 'undefined_name\n');
          assert.equal(piped.code, 1);
          assert.match(piped.stderr, /NameError: name 'undefined_name' is not defined/);
        },
      );

      test('a context with preload has the heavy imports done before its first cell (timings printed)', { timeout: 180_000 }, async () => {
        const cell = 'import sys\nloaded = "pandas" in sys.modules\nimport numpy, pandas, matplotlib.pyplot as plt\nloaded';
        const time = async (preload: string[]) => {
          const t0 = performance.now();
          const ctx = await sandbox.code.createContext({ preload });
          const t1 = performance.now();
          const ex = ok(await sandbox.runCode(cell, { context: ctx }));
          const t2 = performance.now();
          await sandbox.code.deleteContext(ctx);
          return { create: t1 - t0, first: t2 - t1, loaded: ex.results[0]!.text };
        };
        const cold = await time([]);
        const warm = await time(['numpy', 'pandas', 'matplotlib.pyplot']);
        assert.equal(cold.loaded, 'False', 'the control: without preload, pandas is imported by the cell');
        assert.equal(warm.loaded, 'True');
        process.stderr.write(
          `${runtime}: first cell with numpy+pandas+matplotlib: ${cold.first.toFixed(1)} ms cold (context ${cold.create.toFixed(1)} ms), ${warm.first.toFixed(1)} ms preloaded (context ${warm.create.toFixed(1)} ms)\n`,
        );
      });

      test('numpy, scikit-learn and a JavaScript context in the same sandbox', { timeout: 180_000 }, async () => {
        const np = ok(
          await sandbox.runCode(
            'import numpy as np\nfrom sklearn.linear_model import LinearRegression\nm = LinearRegression().fit(np.array([[1], [2], [3]]), [2, 4, 6])\nround(float(m.coef_[0]), 3)',
          ),
        );
        assert.equal(np.results[0]!.text, '2.0');
        const js = await sandbox.code.createContext({ language: 'javascript' });
        const r = ok(await sandbox.runCode('const xs = [1, 2, 3];\nxs.map((x) => x * 2)', { context: js }));
        assert.equal(r.results[0]!.text, '[ 2, 4, 6 ]');
      });
    });
  }
  describe('a warm pool of the image with a Python context pre-started', () => {
    const shape = { runtime: 'gvisor' as const, image: IMAGE, memoryMiB: 1024 };
    before(async () => {
      // The same data dir (the built image), now with a pool configured as an operator would.
      await t.close();
      const config = join(mkdtempSync(join(testRoot(), 'code-pool-')), 'config.json');
      writeFileSync(config, JSON.stringify({ pools: [{ ...shape, size: 2, codeContext: { preload: ['numpy', 'pandas', 'matplotlib.pyplot'] } }] }));
      process.env.AIRLOCK_CONFIG = config;
      try {
        t = await startTestServer(dataDir);
      } finally {
        delete process.env.AIRLOCK_CONFIG;
      }
      airlock = new Airlock({ url: t.server.url, apiKey: TEST_KEY });
      for (let i = 0; i < 600; i++) {
        const pools = (await (await fetch(`${t.server.url}/v1/pools`, { headers: { authorization: `Bearer ${TEST_KEY}` } })).json()) as {
          pools: { ready: number }[];
        };
        if ((pools.pools[0]?.ready ?? 0) >= 2) return;
        await new Promise((r) => setTimeout(r, 250));
      }
      throw new Error('the pool never filled');
    });

    test(
      'the first cell of a claimed sandbox finds numpy, pandas and matplotlib imported; a claim with env gets a context with it',
      { timeout: 300_000 },
      async () => {
        const t0 = performance.now();
        const sandbox = await airlock.sandboxes.create(shape);
        recordSandbox(sandbox.id);
        const t1 = performance.now();
        const ex = ok(await sandbox.runCode('import sys\nwarm = "pandas" in sys.modules\nimport numpy, pandas, matplotlib.pyplot as plt\nwarm'));
        const t2 = performance.now();
        assert.equal(ex.results[0]!.text, 'True', 'imported before the first cell');
        assert.equal(ex.executionCount, 1, 'nothing ran in it before the claimant');
        process.stderr.write(`gvisor warm pool: create ${(t1 - t0).toFixed(1)} ms, first cell (numpy, pandas, matplotlib) ${(t2 - t1).toFixed(1)} ms\n`);
        const withEnv = await airlock.sandboxes.create({ ...shape, env: { WHO: 'claimant' } });
        recordSandbox(withEnv.id);
        const env = ok(await withEnv.runCode('import os, sys\n(os.environ.get("WHO"), "pandas" in sys.modules)'));
        assert.equal(env.results[0]!.text, "('claimant', False)", 'the pooled context (without the env) was dropped for a fresh one');
      },
    );
  });
});
