/**
 * @module sandbox-service
 * The sandbox domain: create, look up, exec, files, destroy, timeouts and crash recovery. It owns
 * the Store and drives runtimes through their interface; it never sees HTTP.
 *
 * Invariants:
 * - A sandbox is written to the Store (state `creating`) before any runtime is touched, and a
 *   failed create removes both the runtime's objects and the row, so nothing is half-created.
 * - Every state change goes through #transition, which checks the lifecycle table.
 * - Host resources of a sandbox are released exactly by runtime.destroy + image.release.
 */
import type { CreateSandboxRequest, ExecRequest, PoolStatus, Sandbox, SandboxState, StopReason } from '@airlock/protocol';
import { ErrorCode } from '@airlock/protocol/errors';
import { AgentOpError, type AgentConnection } from '../agent-channel/agent-connection.js';
import { listDir, readFile, writeFile } from '../agent-channel/files.js';
import type { Config } from '../config.js';
import { AirlockError, notFound } from '../errors.js';
import type { ImageDefaults, ImageProvider } from '../images/image.js';
import type { Logger } from '../log.js';
import type { IdMap } from '../images/snapshotter.js';
import { ID_RANGE_BASE, ID_RANGE_SIZE } from '../runtimes/oci-spec.js';
import type { RuntimeRegistry } from '../runtimes/registry.js';
import type { Runtime } from '../runtimes/runtime.js';
import type { SandboxFilter, SandboxRecord, Store } from '../store/store.js';
import { runExec, type StartedExec } from './exec-run.js';
import { newSandboxId } from './ids.js';
import { LIVE_STATES, assertTransition, requireState } from './lifecycle.js';
import type { Releases } from './releases.js';
import { resolveShape, type Shape } from './shape.js';
import { WarmPools, shapeKey } from './warm-pools.js';

/** What a create asks for that a pooled sandbox takes on when it is handed out. */
interface LateBound {
  env: Record<string, string>;
  metadata: Record<string, string>;
  timeout: number | null;
}

interface Live {
  conn: AgentConnection;
  runtime: Runtime;
  defaults: ImageDefaults;
  /** Set once the channel closed; says whether the memory limit killed the sandbox. */
  stopped: Promise<'oom' | 'other'>;
}

export interface SandboxServiceDeps {
  config: Config;
  store: Store;
  runtimes: RuntimeRegistry;
  images: ImageProvider[];
  log: Logger;
  releases: Releases;
}

export class SandboxService {
  readonly #d: SandboxServiceDeps;
  readonly #live = new Map<string, Live>();
  readonly #destroying = new Map<string, Promise<SandboxRecord>>();
  readonly #pools: WarmPools;
  /** Creates at the sandbox limit waiting for a slot; refills do not start meanwhile. */
  #createsWaiting = 0;
  #sweeper: NodeJS.Timeout | undefined;

  constructor(deps: SandboxServiceDeps) {
    this.#d = deps;
    this.#pools = new WarmPools({
      shapes: deps.config.pools.shapes,
      refillConcurrency: deps.config.pools.refillConcurrency,
      refillDelayMs: deps.config.pools.refillDelayMs,
      log: deps.log,
      fill: async (shape, key) => (await this.#start(resolveShape(this.#d, shape), { env: {}, metadata: {}, timeout: null }, key)).id,
      discard: async (id) => {
        const record = this.#d.store.getSandbox(id);
        if (record && record.state !== 'destroyed') await this.#destroy(record, 'destroyed');
      },
      blocked: (shape) => {
        const a = deps.runtimes.availability(shape.runtime);
        if (!a.available) return `runtime ${shape.runtime} is not available: ${a.reason}`;
        if (deps.store.usedSlots().size >= deps.config.limits.maxSandboxes) return 'the server is at its sandbox limit';
        if (this.#createsWaiting > 0) return 'a create is waiting for room at the sandbox limit';
        return undefined;
      },
    });
  }

  async create(req: CreateSandboxRequest): Promise<Sandbox> {
    const shape = resolveShape(this.#d, req);
    const late: LateBound = { env: req.env ?? {}, metadata: req.metadata ?? {}, timeout: req.timeout === undefined ? this.#d.config.defaults.timeout : req.timeout };
    const key = shapeKey({ ...shape, runtime: shape.runtime.name });
    if (this.#pools.has(key)) {
      const claimed = this.#claimPooled(key, late);
      this.#pools.count(key, claimed !== undefined);
      if (claimed) {
        this.#d.log.info({ sandbox: claimed.id, runtime: claimed.runtime }, 'sandbox handed out from the warm pool');
        return toWire(claimed);
      }
    }
    return toWire(await this.#start(shape, late, null));
  }

  /** Warm pools as the API reports them. */
  pools(): { pools: PoolStatus[]; refillConcurrency: number } {
    return { pools: this.#pools.status(), refillConcurrency: this.#d.config.pools.refillConcurrency };
  }

  /** Starts filling the configured warm pools in the background (after reconcile). */
  startPools(): void {
    this.#pools.start();
  }

  /**
   * Takes a waiting sandbox of the shape and binds what is per request to it in one store update. It
   * was started with no env, labels or timeout and nothing ever ran in it, so it is indistinguishable
   * from a fresh one. Synchronous from take to claim: no other create can get the same sandbox.
   */
  #claimPooled(key: string, late: LateBound): SandboxRecord | undefined {
    for (let id = this.#pools.take(key); id !== undefined; id = this.#pools.take(key)) {
      const live = this.#live.get(id);
      if (!live || live.conn.closed) continue; // died while waiting; its own close handler removes it
      const now = new Date();
      const claimed = this.#d.store.claimPooled(id, {
        env: late.env,
        metadata: late.metadata,
        timeout: late.timeout,
        expiresAt: late.timeout === null ? null : new Date(now.getTime() + late.timeout * 1000).toISOString(),
      });
      if (claimed) return claimed;
    }
    return undefined;
  }

  /** Starts a sandbox: for a create (pool null) or into a warm pool (pool = its shape key). */
  async #start(shape: Shape, late: LateBound, pool: string | null): Promise<SandboxRecord> {
    const { config, store } = this.#d;
    const { runtime, imageProvider: image, cpu, memoryMiB, diskMiB } = shape;
    // Pulls on first use; recorded on the sandbox so that the image cannot be removed under it.
    const imageId = await image.resolve(shape.image);
    // Waiting pooled sandboxes count against capacity, but a create is worth more than one of them;
    // slots of destroyed sandboxes still being released come back within milliseconds. While a create
    // waits for room, refills stay out of the way, or they could take each slot it freed.
    const full = () => new AirlockError(ErrorCode.Capacity, `this server already runs its limit of ${config.limits.maxSandboxes} sandboxes`);
    if (pool !== null && (this.#createsWaiting > 0 || store.usedSlots().size >= config.limits.maxSandboxes)) throw full();
    if (store.usedSlots().size >= config.limits.maxSandboxes) {
      this.#createsWaiting++;
      try {
        while (store.usedSlots().size >= config.limits.maxSandboxes) {
          if (this.#d.releases.size > 0) await this.#d.releases.settled();
          else if (!(await this.#pools.evictOne())) throw full();
        }
      } finally {
        this.#createsWaiting--;
      }
    }
    const used = store.usedSlots();
    let slot = 0;
    while (used.has(slot)) slot++;

    // gVisor counts its own host tasks (~25 plus a stub per address space) against pids.max, and a
    // pids limit hit there kills the whole sandbox: give it headroom so the limit is a host guard.
    const pids = config.defaults.pidsLimit + (runtime.capabilities.ownKernel ? 128 : 0);
    const record: SandboxRecord = {
      id: newSandboxId(),
      state: 'creating',
      runtime: runtime.name,
      image: shape.image,
      cpu,
      memoryMiB,
      pids,
      timeout: late.timeout,
      env: late.env,
      metadata: late.metadata,
      createdAt: new Date().toISOString(),
      startedAt: null,
      stoppedAt: null,
      expiresAt: null,
      stopReason: null,
      slot,
      imageId,
      diskMiB,
      pool,
      releasePending: false,
    };
    store.insertSandbox(record);
    const log = this.#d.log.child({ sandbox: record.id, runtime: runtime.name });
    try {
      const rootfs = await image.prepare(imageId, record.id, { memoryMiB, diskMiB, idmap: idmapFor(runtime, slot) });
      const conn = await runtime.start({ id: record.id, rootfs, cpu, memoryMiB, pids, slot });
      const now = new Date();
      this.#attach(record.id, conn, runtime, rootfs.defaults);
      const running = this.#transition(record.id, 'running', {
        startedAt: now.toISOString(),
        expiresAt: late.timeout === null ? null : new Date(now.getTime() + late.timeout * 1000).toISOString(),
      });
      log.info(pool === null ? 'sandbox running' : 'pooled sandbox ready');
      return running;
    } catch (e) {
      log.warn({ err: e }, 'create failed; removing everything it made');
      this.#live.delete(record.id);
      await runtime.destroy(record.id).catch((err: unknown) => log.error({ err }, 'cleanup of a failed create failed'));
      await image.release(record.id).catch((err: unknown) => log.error({ err }, 'image release of a failed create failed'));
      store.deleteSandbox(record.id);
      throw e;
    }
  }

  get(id: string): Sandbox {
    return toWire(this.#mustGet(id));
  }

  list(filter: SandboxFilter): Sandbox[] {
    const states = filter.states ?? [...LIVE_STATES];
    return this.#d.store.listSandboxes({ ...filter, states }).map(toWire);
  }

  async destroy(id: string, reason: StopReason = 'destroyed'): Promise<Sandbox> {
    return toWire(await this.#destroy(this.#mustGet(id), reason));
  }

  async #destroy(record: SandboxRecord, reason: StopReason): Promise<SandboxRecord> {
    if (record.state === 'destroyed') return record;
    const id = record.id;
    let pending = this.#destroying.get(id);
    if (!pending) {
      pending = this.#teardown(record, reason, 'destroyed').finally(() => this.#destroying.delete(id));
      this.#destroying.set(id, pending);
    }
    return pending;
  }

  async exec(id: string, req: ExecRequest): Promise<StartedExec> {
    const record = this.#mustGet(id);
    const live = this.#liveOf('exec in', record);
    return runExec(
      {
        conn: live.conn,
        defaults: live.defaults,
        sandboxEnv: record.env,
        oomKills: () => live.runtime.oomKills(id),
        stopped: () => live.stopped,
      },
      req,
    );
  }

  async writeFile(id: string, path: string, data: AsyncIterable<Uint8Array> | Uint8Array, opts: { mode?: number; user?: string }): Promise<number> {
    const live = this.#requireLive('write a file in', id);
    return this.#fileOp(path, () =>
      writeFile(live.conn, path, data, { mode: opts.mode ?? 0o644, user: opts.user ?? live.defaults.user, mkdirParents: true }),
    );
  }

  /** Opens a file for reading; resolves once its first chunk (or its end) arrived, so errors surface before any byte is sent. */
  async readFile(id: string, path: string): Promise<AsyncIterable<Buffer>> {
    const live = this.#requireLive('read a file in', id);
    const chunks = readFile(live.conn, path);
    const first = await this.#fileOp(path, () => chunks.next());
    return (async function* () {
      if (!first.done) yield first.value;
      yield* chunks;
    })();
  }

  async listDir(id: string, path: string) {
    const live = this.#requireLive('list files in', id);
    return this.#fileOp(path, () => listDir(live.conn, path));
  }

  /**
   * After a restart: adopt every sandbox that still runs, mark the rest lost and release what they
   * held, destroy the warm pools' sandboxes of the previous run, and remove runtime containers the
   * Store does not know as live.
   */
  async reconcile(): Promise<{ adopted: number; lost: number; orphans: number; pooled: number }> {
    const { store, runtimes, log } = this.#d;
    let adopted = 0;
    let lost = 0;
    let orphans = 0;
    let pooled = 0;
    for (const record of store.listSandboxes({ states: ['destroyed'], includePooled: true, releasePending: true })) {
      log.info({ sandbox: record.id }, 'finishing the release of a sandbox destroyed before the restart');
      await this.#releaseLater(record);
    }
    for (const record of store.listSandboxes({ states: [...LIVE_STATES], includePooled: true })) {
      const runtime = runtimes.get(record.runtime);
      if (record.state === 'creating') {
        // Never acknowledged: the create's caller got no answer. Remove it like a failed create.
        await runtime?.destroy(record.id).catch((err: unknown) => log.error({ err, sandbox: record.id }, 'cleanup failed'));
        await this.#d.images.find((i) => i.has(record.image))?.release(record.id).catch((err: unknown) => log.error({ err, sandbox: record.id }, 'image release failed'));
        store.deleteSandbox(record.id);
        continue;
      }
      if (record.pool !== null) {
        // Warm but never handed out: nobody can be waiting for it, and the new run fills its own pools.
        await this.#teardown(record, 'destroyed', 'destroyed').catch((err: unknown) => log.error({ err, sandbox: record.id }, 'cleanup of a pooled sandbox failed'));
        pooled++;
        continue;
      }
      if (record.state === 'stopped') {
        await runtime?.destroy(record.id).catch((err: unknown) => log.error({ err, sandbox: record.id }, 'cleanup failed'));
        continue;
      }
      const conn = runtime ? await runtime.adopt(record.id) : undefined;
      const image = this.#d.images.find((i) => i.has(record.image));
      if (conn && runtime && image) {
        const rootfs = await image.prepare(record.imageId, record.id, {
          memoryMiB: record.memoryMiB,
          diskMiB: record.diskMiB,
          idmap: idmapFor(runtime, record.slot),
        });
        if (record.state !== 'running') this.#transition(record.id, 'running', {});
        this.#attach(record.id, conn, runtime, rootfs.defaults);
        adopted++;
      } else {
        conn?.close();
        if (record.state === 'running') this.#transition(record.id, 'unknown', {});
        await this.#teardown(store.getSandbox(record.id)!, 'lost', 'stopped');
        lost++;
      }
    }
    // Background releases of the sandboxes torn down above must finish before the orphan sweep, or both
    // would delete the same containers at once.
    await this.#d.releases.settled();
    for (const runtime of runtimes.all()) {
      if (!runtimes.availability(runtime.name).available) continue;
      for (const id of await runtime.list()) {
        const r = store.getSandbox(id);
        if (r && (r.state === 'running' || r.state === 'unknown') && this.#live.has(id)) continue;
        log.warn({ sandbox: id, runtime: runtime.name }, 'removing a container no live sandbox owns');
        await runtime.destroy(id).catch((err: unknown) => log.error({ err, sandbox: id }, 'orphan cleanup failed'));
        orphans++;
      }
    }
    // Root filesystems whose sandbox is gone (a crash between teardown steps): release them too.
    const keep = new Set(store.listSandboxes({ states: [...LIVE_STATES] }).map((r) => r.id));
    for (const image of this.#d.images) {
      for (const id of image.preparedSandboxes?.() ?? []) {
        if (keep.has(id)) continue;
        log.warn({ sandbox: id }, 'releasing a root filesystem no live sandbox owns');
        await image.release(id).catch((err: unknown) => log.error({ err, sandbox: id }, 'orphan rootfs cleanup failed'));
        orphans++;
      }
    }
    return { adopted, lost, orphans, pooled };
  }

  /** Destroys sandboxes whose timeout elapsed; runs every second. */
  startTimeoutSweeper(): void {
    this.#sweeper = setInterval(() => {
      const now = new Date().toISOString();
      for (const r of this.#d.store.listSandboxes({ states: ['running'] })) {
        if (r.expiresAt !== null && r.expiresAt <= now && !this.#destroying.has(r.id)) {
          this.#d.log.info({ sandbox: r.id }, 'timeout elapsed; destroying');
          this.destroy(r.id, 'timeout').catch((err: unknown) => this.#d.log.error({ err, sandbox: r.id }, 'timeout destroy failed'));
        }
      }
    }, 1000);
    this.#sweeper.unref();
  }

  /**
   * Stops background work, destroys the warm pools' sandboxes (nobody could adopt them) and waits for
   * destroys in flight, then closes channels; sandboxes handed out keep running for the next start to adopt.
   */
  async close(): Promise<void> {
    clearInterval(this.#sweeper);
    await this.#pools.close();
    await Promise.allSettled([...this.#destroying.values()]);
    await this.#d.releases.settled();
    for (const live of this.#live.values()) live.conn.close();
    this.#live.clear();
  }

  /** Destroys every live sandbox (used by tests and an explicit shutdown). */
  async destroyAll(): Promise<void> {
    const live = this.#d.store.listSandboxes({ states: [...LIVE_STATES] });
    await Promise.all(live.map((r) => this.destroy(r.id)));
  }

  #attach(id: string, conn: AgentConnection, runtime: Runtime, defaults: ImageDefaults): void {
    const stopped = new Promise<'oom' | 'other'>((resolve) => {
      conn.onClose(() => {
        const oom = (runtime.oomKills(id) ?? 0) > 0 && runtime.capabilities.oomKillsSandbox;
        resolve(oom ? 'oom' : 'other');
      });
    });
    this.#live.set(id, { conn, runtime, defaults, stopped });
    stopped.then((why) => this.#onChannelClosed(id, conn, why)).catch(() => {});
  }

  async #onChannelClosed(id: string, conn: AgentConnection, why: 'oom' | 'other'): Promise<void> {
    if (this.#live.get(id)?.conn !== conn) return; // replaced or deliberately closed
    this.#live.delete(id);
    const record = this.#d.store.getSandbox(id);
    if (!record || record.state !== 'running' || this.#destroying.has(id)) return;
    if (record.pool !== null) {
      this.#d.log.warn({ sandbox: id, why }, 'a pooled sandbox stopped while waiting; destroying it');
      this.#pools.forget(id);
      await this.#destroy(record, 'exited').catch((err: unknown) => this.#d.log.error({ err, sandbox: id }, 'cleanup of a pooled sandbox failed'));
      return;
    }
    this.#d.log.warn({ sandbox: id, why }, 'sandbox stopped on its own; releasing its resources');
    // Record the stop first, so that readers see it at once; the runtime's teardown can take seconds.
    const stopReason = why === 'oom' ? 'oom' : 'exited';
    const stopped = this.#transition(id, 'stopped', { stoppedAt: new Date().toISOString(), stopReason });
    const pending = this.#teardown(stopped, stopReason, 'stopped').finally(() => this.#destroying.delete(id));
    this.#destroying.set(id, pending);
    await pending.catch((err: unknown) => this.#d.log.error({ err, sandbox: id }, 'cleanup of a stopped sandbox failed'));
  }

  async #teardown(record: SandboxRecord, reason: StopReason, to: 'stopped' | 'destroyed'): Promise<SandboxRecord> {
    const live = this.#live.get(record.id);
    this.#live.delete(record.id);
    live?.conn.close();
    const runtime = this.#d.runtimes.get(record.runtime);
    // Where releasing is slow (runsc), destroy answers once nothing runs in the sandbox and nobody can
    // reach it; the rest happens in the background, marked in the store so that a restart redoes it.
    const later = to === 'destroyed' && runtime?.capabilities.slowTeardown === true && (await this.#stopOnly(runtime, record.id));
    if (!later) await this.#releaseHost(record);
    const current = this.#d.store.getSandbox(record.id)!;
    const stoppedAt = current.stoppedAt ?? new Date().toISOString();
    const stopReason = current.stopReason ?? reason;
    if (current.state === 'stopped' && to === 'stopped') return current;
    if (current.state === 'running' && to === 'destroyed') this.#transition(record.id, 'stopped', { stoppedAt, stopReason });
    const done = this.#transition(record.id, to, { stoppedAt, stopReason, ...(later ? { releasePending: true } : {}) });
    if (later) this.#d.releases.track(record.id, record.imageId, this.#releaseLater(done));
    return done;
  }

  /** Kills the sandbox without releasing anything; false if that failed, and then destroy does it all in line. */
  async #stopOnly(runtime: Runtime, id: string): Promise<boolean> {
    try {
      await runtime.stop(id);
      return true;
    } catch (err) {
      this.#d.log.warn({ err, sandbox: id }, 'stop failed; destroying in line');
      return false;
    }
  }

  /** Everything a sandbox holds on the host: runtime objects (containers, processes, cgroups, sockets) and its rootfs. */
  async #releaseHost(record: SandboxRecord): Promise<void> {
    await this.#d.runtimes.get(record.runtime)?.destroy(record.id);
    await this.#d.images.find((i) => i.has(record.image))?.release(record.id);
    this.#pools.refill(); // a slot is free: a pool waiting for room can fill
  }

  async #releaseLater(record: SandboxRecord): Promise<void> {
    try {
      await this.#releaseHost(record);
      this.#d.store.updateSandbox(record.id, { releasePending: false });
    } catch (err) {
      // The store still says releasePending: the next start retries.
      this.#d.log.error({ err, sandbox: record.id }, 'releasing a destroyed sandbox failed');
    }
  }

  #transition(id: string, to: SandboxState, patch: Partial<SandboxRecord>): SandboxRecord {
    const current = this.#d.store.getSandbox(id);
    if (!current) throw new Error(`no sandbox ${id} in the store`);
    assertTransition(id, current.state, to);
    return this.#d.store.updateSandbox(id, { ...patch, state: to });
  }

  /** A sandbox as users see it: one waiting in a warm pool does not exist for them. */
  #mustGet(id: string): SandboxRecord {
    const r = this.#d.store.getSandbox(id);
    if (!r || r.pool !== null) throw notFound(`sandbox ${id}`);
    return r;
  }

  #requireLive(action: string, id: string): Live {
    return this.#liveOf(action, this.#mustGet(id));
  }

  #liveOf(action: string, record: SandboxRecord): Live {
    requireState(action, record.id, record.state, 'running');
    const live = this.#live.get(record.id);
    if (!live || live.conn.closed) throw new AirlockError(ErrorCode.InvalidState, `cannot ${action} sandbox ${record.id}: it is stopping`);
    return live;
  }

  async #fileOp<T>(path: string, op: () => Promise<T>): Promise<T> {
    try {
      return await op();
    } catch (e) {
      if (e instanceof AgentOpError) {
        if (e.errno === 2) throw new AirlockError(ErrorCode.NotFound, `${path}: ${e.message}`);
        throw new AirlockError(ErrorCode.FileError, `${path}: ${e.message}`);
      }
      throw new AirlockError(ErrorCode.InvalidState, `the sandbox stopped during the file operation (${String(e)})`);
    }
  }
}

/** Runtimes with a user namespace see the rootfs through an idmapped mount onto the sandbox's host id range. */
function idmapFor(runtime: Runtime, slot: number): IdMap | undefined {
  return runtime.capabilities.userNamespace ? { hostId: ID_RANGE_BASE + slot * ID_RANGE_SIZE, size: ID_RANGE_SIZE } : undefined;
}

function toWire(r: SandboxRecord): Sandbox {
  return {
    id: r.id,
    state: r.state,
    runtime: r.runtime,
    image: r.image,
    imageId: r.imageId,
    cpu: r.cpu,
    memoryMiB: r.memoryMiB,
    pids: r.pids,
    diskMiB: r.diskMiB,
    timeout: r.timeout,
    metadata: r.metadata,
    envKeys: Object.keys(r.env),
    createdAt: r.createdAt,
    startedAt: r.startedAt,
    stoppedAt: r.stoppedAt,
    expiresAt: r.expiresAt,
    stopReason: r.stopReason,
  };
}
