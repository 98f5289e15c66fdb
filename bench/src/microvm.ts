/**
 * @module microvm
 * The microVM's figures, in the same run as the others and with the accelerator named (TCG here:
 * these hosts' KVM guests hang): boot to the agent's first answer (a create returns once the agent
 * answered its ping), create to first output, exec round trip, idle host memory per VM (PSS of
 * QEMU, virtiofsd, the launcher and the shim) and destroy.
 */
import type { Airlock } from '@airlock/sdk';
import { sandboxPssKiB } from './memory.js';
import type { Row } from './report.js';
import { summarize, timeIt } from './stats.js';
import { teardown } from './teardown.js';

export async function benchMicrovm(
  airlock: Airlock,
  url: string,
  dataDir: string,
  n: { boots: number; execs: number; idle: number; teardown: number },
): Promise<Row[]> {
  const health = (await (await fetch(`${url}/v1/health`)).json()) as { runtimes: { name: string; available: boolean; accel?: string }[] };
  const mvm = health.runtimes.find((r) => r.name === 'microvm');
  if (!mvm?.available) return [];
  const runtime = `microvm (${mvm.accel ?? '?'})`;
  const rows: Row[] = [];
  const boot: number[] = [];
  const tti: number[] = [];
  for (let i = 0; i < n.boots; i++) {
    const t0 = performance.now();
    const sb = await airlock.sandboxes.create({ runtime: 'microvm' });
    boot.push(performance.now() - t0);
    const r = await sb.exec(['python3', '-c', 'print(1)']);
    if (r.stdout !== '1\n') throw new Error(`unexpected output ${JSON.stringify(r.stdout)}`);
    tti.push(performance.now() - t0);
    await sb.destroy();
  }
  rows.push({ metric: 'boot to agent hello (create returns)', runtime, airlock: summarize(boot) });
  rows.push({ metric: "create to first output: python3 -c 'print(1)' (cold)", runtime, airlock: summarize(tti) });
  const idle = await Promise.all(Array.from({ length: n.idle }, () => airlock.sandboxes.create({ runtime: 'microvm' })));
  try {
    rows.push({ metric: 'exec round trip: true', runtime, airlock: summarize(await timeIt(n.execs, () => idle[0]!.exec(['true']))) });
    await new Promise((r) => setTimeout(r, 2000));
    const pss = idle.map((s) => sandboxPssKiB(s.id).pss / 1024);
    rows.push({ metric: 'idle host memory per sandbox, MiB (PSS of its host processes)', runtime, airlock: summarize(pss) });
  } finally {
    await Promise.all(idle.map((s) => s.destroy()));
  }
  const td = await teardown(airlock, dataDir, 'microvm', n.teardown);
  rows.push({ metric: 'destroy: until it answers', runtime, airlock: td.returns });
  rows.push({ metric: 'destroy: until every host resource is gone', runtime, airlock: td.gone });
  return rows;
}
