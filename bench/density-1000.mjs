// One-off: can this machine hold 1,000 idle gVisor sandboxes? (issue 5's density target)
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { Airlock } from '@airlock/sdk';
import { startServer } from '@airlock/server';
const memAvail = () => Number(/MemAvailable:\s+(\d+)/.exec(readFileSync('/proc/meminfo', 'utf8'))[1]) / 1024;
const target = Number(process.argv[2] ?? 1000);
const dataDir = mkdtempSync('/tmp/airlock-dense-');
const key = 'dense-key-0123456789abcdefghij';
const server = await startServer({ dataDir, port: 0, apiKey: key, logLevel: 'error' }, { print: () => {} });
const airlock = new Airlock({ url: server.url, apiKey: key });
const before = memAvail();
const t0 = Date.now();
const boxes = [];
let failure;
try {
  const threads = () => Number(readFileSync('/proc/loadavg', 'utf8').split(' ')[3].split('/')[1]);
  while (boxes.length < target && !failure) {
    // pid_max is 32768 here and every gVisor sandbox is ~25 host threads: stop before the host runs out.
    if (threads() > Number(readFileSync("/proc/sys/kernel/pid_max", "utf8")) - 4_000) {
      failure = `stopped at ${threads()} host threads (pid_max ${readFileSync('/proc/sys/kernel/pid_max', 'utf8').trim()})`;
      break;
    }
    const batch = await Promise.allSettled([0, 1].map(() => airlock.sandboxes.create({ runtime: 'gvisor', memoryMiB: 64, timeout: null })));
    for (const r of batch) r.status === 'fulfilled' ? boxes.push(r.value) : (failure = String(r.reason));
    if (boxes.length % 100 < 2) console.log(`${boxes.length} sandboxes, MemAvailable ${memAvail().toFixed(0)} MiB, ${((Date.now() - t0) / 1000).toFixed(0)} s`);
  }
  await new Promise((r) => setTimeout(r, 5000));
  const after = memAvail();
  const sample = boxes.filter((_, i) => i % Math.ceil(boxes.length / 10) === 0);
  const alive = (await Promise.all(sample.map((b) => b.exec(['true']).then((r) => r.exitCode === 0, () => false)))).filter(Boolean).length;
  const tasks = readFileSync('/proc/loadavg', 'utf8').split(' ')[3];
  const hostThreads = threads();
  console.log(JSON.stringify({ sandboxes: boxes.length, failure, memAvailableDropMiBPerSandbox: ((before - after) / boxes.length).toFixed(2), memAvailableLeftMiB: after.toFixed(0), sampleExecOk: `${alive}/${sample.length}`, hostThreads, createSeconds: ((Date.now() - t0) / 1000).toFixed(0) }));
} finally {
  const t1 = Date.now();
  await server.sandboxes.destroyAll();
  await server.close();
  rmSync(dataDir, { recursive: true, force: true });
  console.log(`destroyed all in ${((Date.now() - t1) / 1000).toFixed(0)} s`);
}
