/**
 * @module density-max
 * `npm run bench -- --max-density [N]`: how many idle gVisor sandboxes this host holds, up to N
 * (default 1,000). Not part of the regular run (it takes the host for minutes). Creates two at a time,
 * stops before the host runs out of threads (every gVisor sandbox is ~25 host threads and pid_max
 * may be 32,768), checks a sample still answers, and reports memory per sandbox.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { Airlock, type Sandbox } from '@airlock/sdk';
import { startServer } from '@airlock/server';

const memAvailableMiB = () => Number(/MemAvailable:\s+(\d+)/.exec(readFileSync('/proc/meminfo', 'utf8'))![1]) / 1024;
const hostThreads = () => Number(readFileSync('/proc/loadavg', 'utf8').split(' ')[3]!.split('/')[1]);
const pidMax = () => Number(readFileSync('/proc/sys/kernel/pid_max', 'utf8'));

export interface MaxDensity {
  sandboxes: number;
  stoppedBecause: string | null;
  memAvailableDropMiBPerSandbox: number;
  memAvailableLeftMiB: number;
  sampleExecOk: string;
  hostThreads: number;
  createSeconds: number;
  destroySeconds: number;
}

export async function maxDensity(key: string, target: number): Promise<MaxDensity> {
  const dataDir = mkdtempSync('/tmp/airlock-bench-dense-');
  const server = await startServer(
    {
      dataDir,
      port: 0,
      apiKey: key,
      logLevel: 'error',
      network: { uplinks: [] },
      maxSandboxes: Math.max(target, 1000),
      limits: { cpuOvercommit: 64, memoryOvercommit: 4 },
    },
    { print: () => {} },
  );
  const airlock = new Airlock({ url: server.url, apiKey: key });
  const before = memAvailableMiB();
  const t0 = Date.now();
  const boxes: Sandbox[] = [];
  let stoppedBecause: string | null = null;
  try {
    while (boxes.length < target && stoppedBecause === null) {
      if (hostThreads() > pidMax() - 4_000) {
        stoppedBecause = `stopped at ${hostThreads()} host threads (pid_max ${pidMax()})`;
        break;
      }
      const batch = await Promise.allSettled([0, 1].map(() => airlock.sandboxes.create({ runtime: 'gvisor', memoryMiB: 64, cpu: 0.1, timeout: null })));
      for (const r of batch) {
        if (r.status === 'fulfilled') boxes.push(r.value);
        else stoppedBecause = String(r.reason);
      }
      if (boxes.length % 100 < 2)
        process.stderr.write(`${boxes.length} sandboxes, MemAvailable ${memAvailableMiB().toFixed(0)} MiB, ${((Date.now() - t0) / 1000).toFixed(0)} s\n`);
    }
    const createSeconds = (Date.now() - t0) / 1000;
    await new Promise((r) => setTimeout(r, 5000));
    const after = memAvailableMiB();
    const sample = boxes.filter((_, i) => i % Math.ceil(boxes.length / 10) === 0);
    const ok = (
      await Promise.all(
        sample.map((b) =>
          b.exec(['true']).then(
            (r) => r.exitCode === 0,
            () => false,
          ),
        ),
      )
    ).filter(Boolean).length;
    const threads = hostThreads();
    const t1 = Date.now();
    await server.sandboxes.destroyAll();
    return {
      sandboxes: boxes.length,
      stoppedBecause,
      memAvailableDropMiBPerSandbox: Math.round(((before - after) / Math.max(1, boxes.length)) * 100) / 100,
      memAvailableLeftMiB: Math.round(after),
      sampleExecOk: `${ok}/${sample.length}`,
      hostThreads: threads,
      createSeconds: Math.round(createSeconds),
      destroySeconds: Math.round((Date.now() - t1) / 1000),
    };
  } finally {
    await server.sandboxes.destroyAll();
    await server.close();
    rmSync(dataDir, { recursive: true, force: true });
  }
}
