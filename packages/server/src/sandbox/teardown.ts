/**
 * @module teardown
 * Ending sandboxes: on request (destroy, timeout), and when one stops on its own (its agent's
 * channel closed). In both cases the stop is recorded first, so readers see it at once; then the
 * runtime kills everything in the sandbox, and destroy answers; releasing host resources (runtime
 * objects, the root filesystem, the slot) finishes in the background, marked `releasePending` in the
 * store so that a restart redoes it. Only when every host resource is gone does the slot return to
 * admission. A release that fails (a mount still busy, a cgroup not yet empty) is tried again in the
 * background with backoff, so one transient error does not hold a slot and the host's objects until
 * the next start.
 */
import type { StopReason } from '@airlock/protocol';
import type { ImageProvider } from '../images/image.js';
import type { Logger } from '../log.js';
import type { NetworkService } from '../network/network-service.js';
import type { RuntimeRegistry } from '../runtimes/registry.js';
import type { SandboxRecord, SandboxStore } from '../store/store.js';
import type { Admission } from './admission.js';
import type { LiveSandboxes, StopInfo } from './live.js';
import type { Releases } from './releases.js';
import type { ExpiryTimers } from './timeouts.js';

export interface TeardownDeps {
  sandboxes: SandboxStore;
  runtimes: RuntimeRegistry;
  images: ImageProvider[];
  live: LiveSandboxes;
  admission: Admission;
  releases: Releases;
  expiry: ExpiryTimers;
  log: Logger;
  /** A slot came free: warm pools waiting for room may refill. */
  slotFree(): void;
  network: NetworkService | undefined;
}

const DETAIL: Partial<Record<StopReason, string>> = {
  destroyed: 'destroyed on request',
  timeout: 'its timeout elapsed',
  lost: 'it was not running any more when the server restarted',
};

/** The first retry of a failed release, doubling up to RETRY_MAX_MS. */
const RETRY_MS = 1_000;
const RETRY_MAX_MS = 60_000;

export class Teardown {
  readonly #d: TeardownDeps;
  readonly #pending = new Map<string, Promise<SandboxRecord>>();
  /** Failed releases waiting for their next try, and tries running now (close waits for those). */
  readonly #retryTimers = new Set<NodeJS.Timeout>();
  readonly #retrying = new Set<Promise<void>>();
  #closed = false;

  constructor(deps: TeardownDeps) {
    this.#d = deps;
  }

  isEnding(id: string): boolean {
    return this.#pending.has(id);
  }

  /** Destroys a sandbox; concurrent calls share one teardown, and a destroyed one is returned as is. */
  destroy(record: SandboxRecord, reason: StopReason, detail = DETAIL[reason] ?? reason): Promise<SandboxRecord> {
    if (record.state === 'destroyed') return Promise.resolve(record);
    let pending = this.#pending.get(record.id);
    if (!pending) {
      pending = this.#destroy(record, reason, detail).finally(() => this.#pending.delete(record.id));
      this.#pending.set(record.id, pending);
    }
    return pending;
  }

  /** The sandbox's channel closed on its own: record why, then release what it held. It stays `stopped`. */
  async stoppedOnItsOwn(id: string, info: StopInfo): Promise<void> {
    if (this.#pending.has(id)) return;
    const { sandboxes, log } = this.#d;
    const reason = info.reason ?? 'exited';
    const stopped = await sandboxes.transition(id, ['running', 'unknown'], 'stopped', {
      stoppedAt: new Date().toISOString(),
      stopReason: reason,
      stopDetail: info.detail,
      releasePending: true,
    });
    if (!stopped) return; // someone else is ending it
    (reason === 'agent_protocol' ? log.warn : log.info).call(
      log,
      { sandbox: id, reason, detail: info.detail },
      'sandbox stopped on its own; releasing its resources',
    );
    this.#d.expiry.clear(id);
    const pending = this.#release(stopped).then(async () => (await sandboxes.get(id))!);
    this.#pending.set(id, pending);
    await pending.finally(() => this.#pending.delete(id));
  }

  /** Finishes the release of a sandbox whose release did not finish before a restart. */
  releaseLater(record: SandboxRecord): Promise<void> {
    return this.#release(record);
  }

  /** Resolves once every teardown in flight and every background release has finished. */
  async settled(): Promise<void> {
    await Promise.allSettled([...this.#pending.values()]);
    await this.#d.releases.settled();
    await Promise.allSettled([...this.#retrying]);
  }

  /** No more retries of failed releases (the next start does them); waits for a try running now. */
  async close(): Promise<void> {
    this.#closed = true;
    for (const t of this.#retryTimers) clearTimeout(t);
    this.#retryTimers.clear();
    await Promise.allSettled([...this.#retrying]);
  }

  async #destroy(record: SandboxRecord, reason: StopReason, detail: string): Promise<SandboxRecord> {
    const { sandboxes, live, expiry, runtimes, log } = this.#d;
    const id = record.id;
    live.detach(id, { reason, detail });
    expiry.clear(id);
    const now = new Date().toISOString();
    // Record the stop first (readers see it at once), unless it is already recorded.
    const current =
      (await sandboxes.transition(id, ['creating', 'running', 'unknown'], 'stopped', { stoppedAt: now, stopReason: reason, stopDetail: detail })) ??
      (await sandboxes.get(id));
    if (!current || current.state === 'destroyed') return current ?? record;
    // Kill everything in it; once that returns nobody can reach it, and the release can finish later.
    const runtime = runtimes.get(current.runtime);
    let stoppedOk = false;
    try {
      await runtime?.stop(id);
      stoppedOk = true;
    } catch (err) {
      log.warn({ err, sandbox: id }, 'stop failed; releasing in line');
    }
    if (!stoppedOk) await this.#releaseHost(current);
    const done = await sandboxes.transition(id, ['stopped'], 'destroyed', { releasePending: stoppedOk });
    if (!done) return (await sandboxes.get(id))!;
    if (stoppedOk) this.#d.releases.track(id, done.imageId, this.#release(done));
    else this.#freeSlot(done);
    return done;
  }

  /**
   * Releases host resources, then clears releasePending. On failure the flag stays (a restart
   * retries) and the release is tried again after a backoff, until it succeeds or the server stops.
   */
  async #release(record: SandboxRecord, attempt = 0): Promise<void> {
    try {
      await this.#releaseHost(record);
      await this.#d.sandboxes.update(record.id, { releasePending: false });
      this.#freeSlot(record);
    } catch (err) {
      const delayMs = Math.min(RETRY_MAX_MS, RETRY_MS * 2 ** attempt);
      this.#d.log.error({ err, sandbox: record.id, attempt, retryInMs: this.#closed ? null : delayMs }, 'releasing a sandbox failed; trying again');
      if (this.#closed) return;
      const timer = setTimeout(() => {
        this.#retryTimers.delete(timer);
        const again = this.#release(record, attempt + 1).finally(() => this.#retrying.delete(again));
        this.#retrying.add(again);
      }, delayMs);
      timer.unref();
      this.#retryTimers.add(timer);
    }
  }

  /** Everything a sandbox holds on the host: runtime objects (containers, processes, cgroups, sockets) and its rootfs. */
  async #releaseHost(record: SandboxRecord): Promise<void> {
    await this.#d.runtimes.get(record.runtime)?.destroy(record.id);
    // After the runtime: nothing runs in the namespace any more when it goes.
    await this.#d.network?.detach(record.id);
    await this.#d.images.find((i) => i.has(record.image))?.release(record.id);
  }

  #freeSlot(record: SandboxRecord): void {
    this.#d.admission.release(record.slot, record.id);
    this.#d.slotFree();
  }
}
