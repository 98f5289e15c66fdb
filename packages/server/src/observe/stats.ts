/**
 * @module stats
 * A running sandbox's resource use, as the host measures it (docs/observability.md says what each
 * number means per runtime): its cgroups for CPU, memory and pids, its btrfs snapshot's quota group
 * for disk, the host end of its veth for network bytes.
 *
 * CPU percent needs two samples. The last sample of each sandbox is kept (one small record per live
 * sandbox, dropped when it is gone), so a poller every second gets the percent over that second; a
 * first or stale read takes a second sample after a short window instead.
 */
import { setTimeout as delay } from 'node:timers/promises';
import type { SandboxStats } from '@airlock/protocol';
import { readCgroupSample, readLinkBytes, type CgroupSample } from '../host/cgroup-stats.js';
import { sandboxCgroupPath } from '../host/cgroups.js';
import { readSnapshotUsage } from '../host/disk-usage.js';
import { requireState } from '../sandbox/lifecycle.js';
import type { SandboxView } from '../sandbox/service.js';
import { AirlockError, notFound } from '../errors.js';
import { ErrorCode } from '@airlock/protocol/errors';

export interface StatsSources {
  /** The sandbox (404 if there is none). */
  sandbox(id: string): Promise<SandboxView>;
  /** Host path of the sandbox's writable snapshot, if it has one. */
  rootfsPath(id: string): string | undefined;
  /** Host end of its veth, if it has a network. */
  hostLink(id: string): string | undefined;
}

const WINDOW_MS = 250;
/** A kept sample older than this is not a fair base for "percent now". */
const STALE_MS = 10_000;
const HOST_SCOPE = new Set(['gvisor', 'microvm']);

export class SandboxStatsReader {
  readonly #src: StatsSources;
  readonly #last = new Map<string, CgroupSample>();

  constructor(src: StatsSources) {
    this.#src = src;
  }

  /** One sample; 404 for a sandbox of another project (unless the caller is an admin), 409 unless running. */
  async read(id: string, scope: { admin: boolean; project: string }): Promise<SandboxStats> {
    const s = await this.#src.sandbox(id);
    if (!scope.admin && s.project !== scope.project) throw notFound(`sandbox ${id}`);
    requireState('read the stats of', id, s.state, 'running');
    let before = this.#last.get(id);
    let now = await readCgroupSample(id);
    if (now && (!before || now.atMs - before.atMs > STALE_MS || now.cpuUsageNs < before.cpuUsageNs)) {
      before = now;
      await delay(WINDOW_MS);
      now = (await readCgroupSample(id)) ?? now;
    }
    if (!now) {
      this.#last.delete(id);
      throw new AirlockError(ErrorCode.InvalidState, `sandbox ${id} has no cgroup to read (it is stopping)`);
    }
    this.#last.set(id, now);
    this.#prune();
    const windowMs = before && before !== now ? now.atMs - before.atMs : null;
    const percent = before && windowMs ? Math.round(((now.cpuUsageNs - before.cpuUsageNs) / 1e6 / windowMs) * 1000) / 10 : null;
    const rootfs = this.#src.rootfsPath(id);
    const link = this.#src.hostLink(id);
    const [disk, net] = await Promise.all([rootfs ? readSnapshotUsage(rootfs) : undefined, link ? readLinkBytes(link) : undefined]);
    const hostScope = HOST_SCOPE.has(s.runtime);
    return {
      id,
      runtime: s.runtime,
      time: new Date().toISOString(),
      source: `cgroup v${now.version} ${sandboxCgroupPath(id)}${hostScope ? ` (host side: ${s.runtime === 'gvisor' ? "gVisor's sentry" : 'QEMU and virtiofsd'})` : ''}`,
      cpu: { usageSeconds: now.cpuUsageNs / 1e9, percent, windowMs: windowMs === null ? null : Math.round(windowMs), limitCores: s.enforced?.cpu ?? s.cpu },
      memory: { currentBytes: now.memoryBytes, peakBytes: now.memoryPeakBytes, limitBytes: now.memoryLimitBytes },
      pids: { current: now.pids, limit: now.pidsLimit, scope: hostScope ? 'host' : 'guest' },
      disk: disk ? { usedBytes: disk.usedBytes, limitBytes: disk.limitBytes ?? s.diskMiB * 1024 * 1024 } : null,
      // The host end's receive is what the sandbox sent.
      network: net ? { rxBytes: net.txBytes, txBytes: net.rxBytes } : null,
    };
  }

  /** Kept samples of sandboxes nobody asked about for a while go (bounded by the live sandboxes read). */
  #prune(): void {
    if (this.#last.size < 256) return;
    const now = performance.now();
    for (const [id, s] of this.#last) if (now - s.atMs > STALE_MS) this.#last.delete(id);
  }
}
