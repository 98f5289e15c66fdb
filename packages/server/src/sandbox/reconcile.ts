/**
 * @module reconcile
 * After a restart: adopt every sandbox that still runs, mark the rest lost and release what they
 * held, destroy the warm pools' sandboxes of the previous run, finish releases a crash interrupted,
 * and remove runtime containers and root filesystems the store does not know as live. Sandboxes are
 * handled several at a time (config.reconcileConcurrency), so a thousand of them adopt quickly.
 *
 * SECURITY: nothing here touches a running sandbox's root filesystem (an adopted sandbox's exec
 * defaults come from the store, not from its files), and one sandbox's failure is logged and leaves
 * it alone, never releasing the rootfs of something that may still run, and never stopping the
 * server from starting.
 */
import type { ImageProvider } from '../images/image.js';
import type { Logger } from '../log.js';
import type { NetworkService } from '../network/network-service.js';
import type { RuntimeRegistry } from '../runtimes/registry.js';
import type { RuntimeSpec } from '../runtimes/runtime.js';
import type { SandboxRecord, SandboxStore } from '../store/store.js';
import type { Admission } from './admission.js';
import { LIVE_STATES } from './lifecycle.js';
import type { LiveSandboxes } from './live.js';
import type { Teardown } from './teardown.js';
import type { ExpiryTimers } from './timeouts.js';

export interface ReconcileDeps {
  sandboxes: SandboxStore;
  runtimes: RuntimeRegistry;
  images: ImageProvider[];
  live: LiveSandboxes;
  admission: Admission;
  teardown: Teardown;
  expiry: ExpiryTimers;
  log: Logger;
  concurrency: number;
  network: NetworkService | undefined;
}

export interface ReconcileReport {
  adopted: number;
  lost: number;
  orphans: number;
  pooled: number;
  failed: number;
}

export async function reconcile(d: ReconcileDeps): Promise<ReconcileReport> {
  const { sandboxes, runtimes, log } = d;
  const report: ReconcileReport = { adopted: 0, lost: 0, orphans: 0, pooled: 0, failed: 0 };
  d.admission.load(await sandboxes.holding());
  const provider = (r: SandboxRecord) => d.images.find((i) => i.has(r.image));

  const unfinished = await sandboxes.list({ states: ['destroyed', 'stopped'], includePooled: true, releasePending: true });
  await eachLimited(unfinished, d.concurrency, async (record) => {
    log.info({ sandbox: record.id }, 'finishing the release of a sandbox stopped before the restart');
    await d.teardown.releaseLater(record);
  });

  const records = await sandboxes.list({ states: [...LIVE_STATES], includePooled: true, releasePending: false });
  await eachLimited(records, d.concurrency, async (record) => {
    try {
      await reconcileOne(d, record, provider(record), report);
    } catch (err) {
      // Left as it is: a later start (or the user's destroy) deals with it. Its rootfs stays.
      report.failed++;
      log.error({ err, sandbox: record.id }, 'reconciling a sandbox failed; leaving it as it is');
    }
  });

  // Background releases of the sandboxes torn down above must finish before the orphan sweep, or both
  // would delete the same containers at once.
  await d.teardown.settled();
  const keep = new Set((await sandboxes.holding()).map((r) => r.id));
  for (const runtime of runtimes.all()) {
    if (!runtimes.availability(runtime.name).available) continue;
    let ids: string[];
    try {
      ids = await runtime.list();
    } catch (err) {
      log.error({ err, runtime: runtime.name }, 'listing the runtime failed; skipping its orphan sweep');
      continue;
    }
    for (const id of ids) {
      // Held by a sandbox: adopted, or left alone because reconciling it failed (it may still run).
      if (keep.has(id)) continue;
      log.warn({ sandbox: id, runtime: runtime.name }, 'removing a container no live sandbox owns');
      await runtime.destroy(id).catch((err: unknown) => log.error({ err, sandbox: id }, 'orphan cleanup failed'));
      report.orphans++;
    }
  }
  // Namespaces and links of this instance no sandbox owns (a crash in the middle of an attach).
  await d.network?.sweep().catch((err: unknown) => log.error({ err }, 'network orphan sweep failed'));
  // Root filesystems whose sandbox is gone (a crash between teardown steps): release them too.
  for (const image of d.images) {
    for (const id of image.preparedSandboxes?.() ?? []) {
      if (keep.has(id)) continue;
      log.warn({ sandbox: id }, 'releasing a root filesystem no live sandbox owns');
      await image.release(id).catch((err: unknown) => log.error({ err, sandbox: id }, 'orphan rootfs cleanup failed'));
      report.orphans++;
    }
  }
  return report;
}

async function reconcileOne(d: ReconcileDeps, record: SandboxRecord, image: ImageProvider | undefined, report: ReconcileReport): Promise<void> {
  const { sandboxes, log } = d;
  const runtime = d.runtimes.get(record.runtime);
  if (record.state === 'creating') {
    // Never acknowledged: the create's caller got no answer. Remove it like a failed create.
    await runtime?.destroy(record.id);
    await d.network?.detach(record.id);
    await image?.release(record.id);
    await sandboxes.delete(record.id);
    d.admission.release(record.slot, record.id);
    return;
  }
  if (record.pool !== null) {
    // Warm but never handed out: nobody can be waiting for it, and the new run fills its own pools.
    await d.teardown.destroy(record, 'destroyed', 'a warm pool sandbox of the previous run');
    report.pooled++;
    return;
  }
  if (record.state === 'stopped') {
    // Released before the restart (releasePending is false): make sure nothing of it runs.
    await runtime?.destroy(record.id);
    await d.network?.detach(record.id);
    return;
  }
  const spec: RuntimeSpec = {
    id: record.id,
    rootfs: { kind: 'directory', path: '', readonly: false, mounts: [] },
    cpu: record.cpu,
    memoryMiB: record.memoryMiB,
    pids: record.pids,
    hostIds: d.admission.hostIdsOf(record.slot),
    network: d.network?.attachmentOf(record.id) ? { kind: 'netns', path: d.network.attachmentOf(record.id)!.netnsPath } : { kind: 'none' },
  };
  const handle = runtime && image ? await runtime.adopt(record.id, spec) : undefined;
  if (handle && runtime && image) {
    try {
      const defaults = await image.defaults(record.imageId);
      await d.live.attach(record.id, runtime, handle, defaults);
      if (record.state !== 'running') await sandboxes.transition(record.id, [record.state], 'running');
      if (record.expiresAt) d.expiry.set(record.id, record.expiresAt);
      report.adopted++;
      return;
    } catch (err) {
      handle.close();
      log.warn({ err, sandbox: record.id }, 'sandbox runs but its agent does not answer');
    }
  }
  // It stays visible as stopped (lost), with everything it held released.
  await sandboxes.transition(record.id, ['running'], 'unknown');
  await d.teardown.stoppedOnItsOwn(record.id, { reason: 'lost', detail: 'it was not running any more when the server restarted' });
  report.lost++;
}

/** Runs `fn` over `items` with at most `n` at once. */
async function eachLimited<T>(items: T[], n: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < items.length) await fn(items[next++]!);
  };
  await Promise.all(Array.from({ length: Math.min(n, items.length) }, worker));
}
