/**
 * Teardown: how long until destroy answers, and until every host resource of the sandbox (cgroups,
 * processes, mounts, runtime state, sockets, bundle) is gone, observed on the host.
 */
import type { Airlock } from '@airlock/sdk';
import { isClean, remainsOf } from '@airlock/testkit/host-probe.js';
import { summarize, type Summary } from './stats.js';

export async function teardown(
  airlock: Airlock,
  dataDir: string,
  runtime: 'runc' | 'gvisor' | 'microvm',
  n: number,
): Promise<{ returns: Summary; gone: Summary }> {
  const returns: number[] = [];
  const gone: number[] = [];
  for (let i = 0; i < n; i++) {
    const sb = await airlock.sandboxes.create({ runtime });
    await sb.exec(['sh', '-c', 'sleep 100 & echo ok']);
    const t0 = performance.now();
    await sb.destroy();
    returns.push(performance.now() - t0);
    const end = Date.now() + 60_000;
    while (!isClean(remainsOf(sb.id, dataDir))) {
      if (Date.now() > end) throw new Error(`${sb.id} still holds host resources a minute after destroy`);
      await new Promise((r) => setTimeout(r, 1));
    }
    gone.push(performance.now() - t0);
  }
  return { returns: summarize(returns), gone: summarize(gone) };
}
