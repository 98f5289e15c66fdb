/**
 * @module processes
 * Bench figures of processes and the file API, through the SDK against a real server: PTY keystroke
 * echo round trip (a byte in over the WebSocket, its echo by the terminal back), attach replay
 * throughput (a finished process's journal replayed from offset 0), streamed upload and download
 * MiB/s with the server's RSS growth, and watch event latency (a file written through the API until
 * its watch event arrives).
 */
import type { Airlock } from '@airlock/sdk';
import type { Row } from './report.js';
import { summarize } from './stats.js';

export interface ProcessBench {
  rows: Row[];
  /** Markdown lines: throughput figures, which are not latencies. */
  lines: string[];
}

const MiB = 1024 * 1024;

export async function processBench(airlock: Airlock, runtimes: readonly string[], quick: boolean): Promise<ProcessBench> {
  const rows: Row[] = [];
  const lines = ['', '## Processes and files', '', '| metric | runtime | value | server RSS growth |', '|---|---|---|---|'];
  for (const runtime of runtimes) {
    const sb = await airlock.sandboxes.create({ runtime: runtime as 'runc', timeout: null });
    try {
      // PTY echo: cat on a terminal; the line discipline echoes each byte.
      const pty = await sb.pty.create({ cols: 80, rows: 24, cmd: ['cat'] });
      let waiting: ((d: Uint8Array) => void) | undefined;
      pty.onData((d) => waiting?.(d));
      const samples: number[] = [];
      const n = quick ? 50 : 300;
      for (let i = 0; i < n + 5; i++) {
        const t0 = performance.now();
        await new Promise<void>((resolve) => {
          waiting = () => resolve();
          pty.write('x');
        });
        if (i >= 5) samples.push(performance.now() - t0);
      }
      waiting = undefined;
      await pty.kill();
      rows.push({ metric: 'PTY keystroke echo round trip (WebSocket)', runtime, airlock: summarize(samples) });

      // Attach replay: 64 MiB (16 quick) in the journal, replayed from 0 over a WebSocket.
      const size = (quick ? 16 : 64) * MiB;
      const p = await sb.processes.start(`head -c ${size} /dev/zero`);
      await sb.processes.wait(p.id);
      let got = 0;
      const t0 = performance.now();
      const a = await sb.processes.connect(p.id, { offset: 0, onData: (d) => (got += d.length) });
      await a.wait();
      const replay = (got / MiB / ((performance.now() - t0) / 1000)).toFixed(0);
      lines.push(`| attach replay from offset 0 (${size / MiB} MiB journal) | ${runtime} | ${replay} MiB/s | |`);

      // Upload and download, streamed.
      const bytes = (quick ? 128 : 512) * MiB;
      const chunk = new Uint8Array(MiB).fill(97);
      let sent = 0;
      const rss0 = process.memoryUsage().rss;
      let peak = rss0;
      const sampler = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 20);
      const u0 = performance.now();
      await sb.files.upload(
        '/home/user/bench.bin',
        new ReadableStream({ pull: (c) => (sent >= bytes ? c.close() : (c.enqueue(chunk), (sent += chunk.length), undefined)) }),
      );
      const up = bytes / MiB / ((performance.now() - u0) / 1000);
      const d0 = performance.now();
      let down = 0;
      for await (const c of (await sb.files.download('/home/user/bench.bin')) as unknown as AsyncIterable<Uint8Array>) down += c.length;
      const dn = down / MiB / ((performance.now() - d0) / 1000);
      clearInterval(sampler);
      // The server runs in this process: its RSS growth includes this client's buffers (an upper bound).
      const growth = `${((peak - rss0) / MiB).toFixed(1)} MiB`;
      lines.push(`| upload, streamed (${bytes / MiB} MiB) | ${runtime} | ${up.toFixed(0)} MiB/s | ${growth} (both directions) |`);
      lines.push(`| download, streamed (${bytes / MiB} MiB) | ${runtime} | ${dn.toFixed(0)} MiB/s | |`);
      await sb.files.remove('/home/user/bench.bin');

      // Watch: a small file written through the API until its create event arrives.
      await sb.files.mkdir('/tmp/bench-watch');
      const abort = new AbortController();
      const events = await sb.files.watch('/tmp/bench-watch', { signal: abort.signal });
      const w: number[] = [];
      for (let i = 0; i < (quick ? 20 : 100); i++) {
        const t1 = performance.now();
        const wrote = sb.files.write(`/tmp/bench-watch/f${i}`, 'x');
        for (;;) {
          const { value } = await events.next();
          if (value?.type === 'rename_to' && value.path === `f${i}`) break;
        }
        w.push(performance.now() - t1);
        await wrote;
      }
      abort.abort();
      await events.return(undefined).catch(() => {});
      rows.push({ metric: 'watch: file write through the API until its event arrives', runtime, airlock: summarize(w) });
    } finally {
      await sb.destroy();
    }
  }
  return { rows, lines };
}
