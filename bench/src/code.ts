/**
 * @module code
 * Bench figures of the code interpreter, through the SDK against a real server, with the default
 * image: a context's first cell (the interpreter's start included), `runCode('1+1')` in a warm
 * context next to an exec round trip of `true` in the same sandbox, and cells per second at
 * concurrency 16 across sandboxes (one context each).
 */
import type { Airlock, Sandbox } from '@airlock/sdk';
import type { Row } from './report.js';
import { summarize, timeIt } from './stats.js';

export interface CodeBench {
  rows: Row[];
  lines: string[];
}

export async function codeBench(airlock: Airlock, runtimes: readonly string[], quick: boolean): Promise<CodeBench> {
  const rows: Row[] = [];
  const lines = ['', '## Code interpreter', '', '| metric | runtime | value |', '|---|---|---|'];
  for (const runtime of runtimes) {
    const sb = await airlock.sandboxes.create({ runtime: runtime as 'runc', timeout: null });
    try {
      const first = await timeIt(
        quick ? 3 : 10,
        async () => {
          const ctx = await sb.code.createContext();
          const ex = await sb.runCode('1+1', { context: ctx });
          if (ex.results[0]?.text !== '2') throw new Error(`first cell: ${JSON.stringify(ex)}`);
          await sb.code.deleteContext(ctx);
        },
        1,
      );
      rows.push({ metric: 'code: a new Python context and its first cell (1+1)', runtime, airlock: summarize(first) });
      const ctx = await sb.code.createContext();
      const cell = summarize(await timeIt(quick ? 50 : 300, () => sb.runCode('1+1', { context: ctx })));
      const exec = summarize(await timeIt(quick ? 50 : 300, () => sb.exec(['true'])));
      rows.push({ metric: "code: runCode('1+1') in a warm context", runtime, airlock: cell });
      rows.push({ metric: 'code: exec round trip of true (same sandbox)', runtime, airlock: exec });
      lines.push(`| runCode('1+1') p50 / exec p50 | ${runtime} | ${(cell.p50 / exec.p50).toFixed(2)}× (goal ≤ 1.5×) |`);
    } finally {
      await sb.destroy();
    }
    const concurrency = quick ? 4 : 16;
    const sandboxes: Sandbox[] = await Promise.all(
      Array.from({ length: concurrency }, () => airlock.sandboxes.create({ runtime: runtime as 'runc', timeout: null, cpu: 0.25, memoryMiB: 256 })),
    );
    try {
      await Promise.all(sandboxes.map((s) => s.runCode('1+1')));
      const cellsEach = quick ? 10 : 40;
      const t0 = performance.now();
      await Promise.all(
        sandboxes.map(async (s) => {
          for (let i = 0; i < cellsEach; i++) await s.runCode('1+1');
        }),
      );
      const seconds = (performance.now() - t0) / 1000;
      lines.push(`| cells per second, concurrency ${concurrency} across sandboxes | ${runtime} | ${((concurrency * cellsEach) / seconds).toFixed(1)} |`);
    } finally {
      await Promise.all(sandboxes.map((s) => s.destroy()));
    }
  }
  return { rows, lines };
}
