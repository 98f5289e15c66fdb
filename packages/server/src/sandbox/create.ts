/**
 * @module create
 * Starting a sandbox (for a create, or into a warm pool) and handing a pooled one out.
 *
 * Invariants:
 * - A sandbox is written to the store (state `creating`) before any runtime is touched, and a
 *   failed start removes the runtime's objects, its rootfs, its slot and the row: nothing is
 *   half-created.
 * - The image is leased from its resolution until the row holds it, so garbage collection cannot
 *   take it in between.
 * - A pooled sandbox is handed out by one conditional store update: two creates never get the same.
 */
import { randomBytes } from 'node:crypto';
import { NetworkSettings } from '@airlock/protocol';
import { ErrorCode } from '@airlock/protocol/errors';
import { AgentProtocolError } from '../agent-channel/errors.js';
import type { Config } from '../config.js';
import { AirlockError, runtimeError } from '../errors.js';
import type { IdMap } from '../images/snapshotter.js';
import type { Logger } from '../log.js';
import type { NetworkService } from '../network/network-service.js';
import type { NetworkAttachment, RuntimeDescription } from '../runtimes/runtime.js';
import { DEFAULT_PROJECT, type SandboxRecord, type SandboxStore } from '../store/store.js';
import type { Admission, Reservation } from './admission.js';
import { FairQueue } from './fair-queue.js';
import { newSandboxId } from './ids.js';
import type { LiveSandboxes } from './live.js';
import type { Releases } from './releases.js';
import type { Shape } from './shape.js';
import type { ExpiryTimers } from './timeouts.js';
import type { WarmPools } from './warm-pools.js';

/** What a create asks for that a pooled sandbox takes on when it is handed out. */
export interface LateBound {
  project: string;
  env: Record<string, string>;
  metadata: Record<string, string>;
  timeout: number | null;
  /** The sandbox's network (validated); null: loopback only. A pooled sandbox gets it at claim. */
  network: NetworkSettings | null;
}

export interface CreatorDeps {
  config: Config;
  sandboxes: SandboxStore;
  admission: Admission;
  live: LiveSandboxes;
  releases: Releases;
  expiry: ExpiryTimers;
  log: Logger;
  pools(): WarmPools;
  /** Sandbox networks; undefined when the host cannot give any (no nft/ip, or turned off). */
  network: NetworkService | undefined;
  /** Destroys a pooled sandbox that a claim took but could not hand out. */
  discard(id: string): Promise<void>;
}

export class Creator {
  readonly #d: CreatorDeps;
  /** Creates waiting for room at capacity; pool refills stay out of their way meanwhile. */
  #waiting = 0;
  /** The host-side work of starts, shared fairly between projects (pool refills count as one more). */
  readonly #turns: FairQueue;

  constructor(deps: CreatorDeps) {
    this.#d = deps;
    // As many reserve slots as regular ones: each project with nothing running starts a create at
    // once, beside a flood, until twice the bound run (sandbox/fair-queue.ts).
    this.#turns = new FairQueue(deps.config.limits.createConcurrency, deps.config.limits.createConcurrency);
  }

  get waiting(): number {
    return this.#waiting;
  }

  /** Starts a sandbox: for a create (pool null) or into a warm pool (pool = its shape key). */
  async start(shape: Shape, late: LateBound, pool: string | null): Promise<SandboxRecord> {
    const { sandboxes, log } = this.#d;
    const { runtime, imageProvider: image, cpu, memoryMiB, diskMiB } = shape;
    // Pooled sandboxes always get a namespace (egress none), so a claim can bind any policy later.
    const settings = pool !== null && this.#d.network && runtime.description.network.includes('netns') ? NetworkSettings.parse({}) : late.network;
    if (settings !== null) this.#networkFor(runtime.name, runtime.description.network).validate(settings);
    this.#d.admission.check({ cpu, memoryMiB });
    // Before the image is pulled: a create over its project's quota leaves nothing behind.
    if (pool === null) await this.fitsProject(late.project, { cpu, memoryMiB, diskMiB });
    // Pulls on first use; leased until the row below records it.
    const { imageId, lease } = await image.resolve(shape.image, late.project);
    const id = newSandboxId();
    let reservation: Reservation;
    try {
      reservation = await this.#reserve({ cpu, memoryMiB, diskMiB }, id, pool === null ? late.project : null);
    } catch (e) {
      lease.release();
      throw e;
    }
    const record: SandboxRecord = {
      id,
      project: late.project,
      state: 'creating',
      runtime: runtime.name,
      image: shape.image,
      cpu,
      memoryMiB,
      pids: this.#d.config.defaults.pidsLimit,
      timeout: late.timeout,
      env: late.env,
      metadata: late.metadata,
      createdAt: new Date().toISOString(),
      startedAt: null,
      stoppedAt: null,
      expiresAt: null,
      stopReason: null,
      stopDetail: null,
      slot: reservation.slot,
      imageId,
      diskMiB,
      pool,
      releasePending: false,
      enforced: null,
      network: null,
    };
    try {
      await sandboxes.insert(record);
    } catch (e) {
      this.#d.admission.release(reservation.slot, id);
      throw e;
    } finally {
      lease.release();
    }
    const slog = log.child({ sandbox: record.id, runtime: runtime.name });
    try {
      // A project that floods creates waits behind its own backlog here, not in front of others'.
      const handle = await this.#turns.run(pool === null ? `project:${late.project}` : 'pool', async () => {
        const rootfs = await image.prepare(imageId, record.id, {
          memoryMiB,
          diskMiB,
          idmap: idmapFor(runtime.description, reservation.hostIds),
        });
        const defaults = await image.defaults(imageId);
        let network: NetworkAttachment = { kind: 'none' };
        if (settings !== null) {
          // Attached before the runtime starts: the sandbox's first packet already meets its policy.
          const a = await this.#d.network!.attach(record.id, settings, record.project);
          record.network = { index: a.index, settings, portsToken: randomBytes(24).toString('base64url') };
          await sandboxes.update(record.id, { network: record.network });
          network = { kind: 'netns', path: a.netnsPath };
        }
        const project = pool === null ? late.project : undefined;
        const handle = await runtime.start({ id: record.id, rootfs, cpu, memoryMiB, pids: record.pids, hostIds: reservation.hostIds, network, project });
        try {
          await this.#d.live.attach(record.id, runtime, handle, defaults);
        } catch (e) {
          handle.close();
          throw e instanceof AgentProtocolError
            ? runtimeError(`the agent of sandbox ${record.id} broke the protocol while starting: ${e.message}`, e)
            : runtimeError(`the agent of sandbox ${record.id} did not answer: ${(e as Error).message}`, e);
        }
        return handle;
      });
      const now = new Date();
      const running = await sandboxes.transition(record.id, ['creating'], 'running', {
        startedAt: now.toISOString(),
        expiresAt: late.timeout === null ? null : new Date(now.getTime() + late.timeout * 1000).toISOString(),
        enforced: handle.enforced,
      });
      if (!running) throw new AirlockError(ErrorCode.InvalidState, `sandbox ${record.id} was removed while it started`);
      if (running.expiresAt && pool === null) this.#d.expiry.set(running.id, running.expiresAt);
      slog.info(pool === null ? 'sandbox running' : 'pooled sandbox ready');
      return running;
    } catch (e) {
      slog.warn({ err: e }, 'create failed; removing everything it made');
      this.#d.live.detach(record.id, { reason: 'error', detail: 'its create failed' });
      await runtime.destroy(record.id).catch((err: unknown) => slog.error({ err }, 'cleanup of a failed create failed'));
      await this.#d.network?.detach(record.id).catch((err: unknown) => slog.error({ err }, 'network cleanup of a failed create failed'));
      await image.release(record.id).catch((err: unknown) => slog.error({ err }, 'image release of a failed create failed'));
      await sandboxes.delete(record.id);
      this.#d.admission.release(reservation.slot, id);
      throw e;
    }
  }

  /**
   * Takes a waiting sandbox of the shape and binds what is per request to it in one store update. It
   * was started with no env, labels or timeout and nothing ever ran in it, so it is indistinguishable
   * from a fresh one. take() is synchronous: no other create can be handed the same sandbox.
   */
  async claim(key: string, late: LateBound): Promise<SandboxRecord | undefined> {
    const pools = this.#d.pools();
    for (let id = pools.take(key); id !== undefined; id = pools.take(key)) {
      const live = this.#d.live.get(id);
      if (!live || live.conn.closed) continue; // died while waiting; its own close handler removes it
      const pooled = await this.#d.sandboxes.get(id);
      if (pooled) {
        // From here it counts against the claiming project; over its quota, the pooled sandbox goes
        // (it was taken from the pool already) and the create is refused.
        try {
          this.#d.admission.assign(pooled.slot, id, late.project);
        } catch (e) {
          await this.#d.discard(id);
          throw e;
        }
      }
      let network = pooled?.network ?? null;
      if (late.network !== null) {
        // Bound late, on the host side: the sandbox was taken from the pool above, so nobody else can get it.
        if (!network || !this.#d.network) {
          // Pooled before networks were available: not usable for this create; a fresh start says why.
          await this.#d.discard(id);
          continue;
        }
        try {
          await this.#d.network.update(id, late.network, late.project);
        } catch (e) {
          await this.#d.discard(id);
          throw e;
        }
        network = { ...network, settings: late.network };
      }
      const now = new Date();
      const claimed = await this.#d.sandboxes.claimPooled(id, {
        project: late.project,
        network,
        env: late.env,
        metadata: late.metadata,
        timeout: late.timeout,
        expiresAt: late.timeout === null ? null : new Date(now.getTime() + late.timeout * 1000).toISOString(),
      });
      if (claimed) {
        if (claimed.expiresAt) this.#d.expiry.set(claimed.id, claimed.expiresAt);
        return claimed;
      }
    }
    return undefined;
  }

  /**
   * Whether one more sandbox of this size fits the project's quotas, waiting first for releases in
   * flight (a sandbox just destroyed still holds its share until its teardown ends, within ms).
   */
  async fitsProject(project: string, size: { cpu: number; memoryMiB: number; diskMiB: number }): Promise<void> {
    for (;;) {
      try {
        return this.#d.admission.checkProject(project, size);
      } catch (e) {
        if (!(e instanceof AirlockError) || e.code !== ErrorCode.QuotaExceeded || this.#d.releases.size === 0) throw e;
        await this.#d.releases.settled();
      }
    }
  }

  /** The network service, or a 4xx-worthy error when this sandbox cannot have a network. */
  #networkFor(runtime: string, kinds: readonly string[]): NetworkService {
    if (!this.#d.network)
      throw new AirlockError(
        ErrorCode.RuntimeUnavailable,
        'this server has no sandbox networks (nft or ip is missing, or network.enabled is false); create without "network"',
      );
    if (!kinds.includes('netns')) throw new AirlockError(ErrorCode.RuntimeUnavailable, `runtime ${runtime} cannot join a network namespace`);
    return this.#d.network;
  }

  /**
   * A reservation, waiting for room where it can come back: slots of destroyed sandboxes still being
   * released return within milliseconds, and a create is worth more than a waiting pooled sandbox.
   * A pool refill never waits.
   */
  async #reserve(size: { cpu: number; memoryMiB: number; diskMiB: number }, owner: string, project: string | null): Promise<Reservation> {
    const forPool = project === null;
    if (forPool && this.#waiting > 0) throw new AirlockError(ErrorCode.Capacity, 'a create is waiting for room');
    this.#waiting += forPool ? 0 : 1;
    try {
      for (;;) {
        try {
          return this.#d.admission.reserve(size, owner, project);
        } catch (e) {
          if (forPool || !(e instanceof AirlockError) || (e.code !== ErrorCode.Capacity && e.code !== ErrorCode.QuotaExceeded)) throw e;
          if (e.code === ErrorCode.QuotaExceeded) {
            // Only releases give a project room back (evicting a pooled sandbox would not).
            if (this.#d.releases.size === 0) throw e;
            await this.#d.releases.settled();
            continue;
          }
          if (this.#d.releases.size > 0) await this.#d.releases.settled();
          else if (!(await this.#d.pools().evictOne())) throw e;
        }
      }
    } finally {
      this.#waiting -= forPool ? 0 : 1;
    }
  }
}

export const DEFAULT_LATE: LateBound = { project: DEFAULT_PROJECT, env: {}, metadata: {}, timeout: null, network: null };

/** The user uid inside every image Airlock starts from (the default image's `user`). */
const USER_UID = 1000;

/**
 * How a sandbox's files must appear on the host: through the runtime's user-namespace range (runc),
 * or, where one host uid is the sandbox's `user` (bwrap), shifted so that uid 1000 is that uid.
 */
export function idmapFor(d: RuntimeDescription, ids: { base: number; size: number }): IdMap | undefined {
  if (d.idmappedRootfs) return { hostId: ids.base, size: ids.size };
  if (!d.rootInside) return { hostId: ids.base - USER_UID, size: ids.size };
  return undefined;
}
