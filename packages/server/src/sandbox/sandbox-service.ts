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
import type { CreateSandboxRequest, ExecRequest, Sandbox, SandboxState, StopReason } from '@airlock/protocol';
import { ErrorCode } from '@airlock/protocol/errors';
import { AgentOpError, type AgentConnection } from '../agent-channel/agent-connection.js';
import { listDir, readFile, writeFile } from '../agent-channel/files.js';
import type { Config } from '../config.js';
import { AirlockError, invalidRequest, notFound } from '../errors.js';
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
}

export class SandboxService {
  readonly #d: SandboxServiceDeps;
  readonly #live = new Map<string, Live>();
  readonly #destroying = new Map<string, Promise<SandboxRecord>>();
  #sweeper: NodeJS.Timeout | undefined;

  constructor(deps: SandboxServiceDeps) {
    this.#d = deps;
  }

  async create(req: CreateSandboxRequest): Promise<Sandbox> {
    const { config, store, runtimes } = this.#d;
    const runtimeName = req.runtime ?? runtimes.preferred();
    if (runtimeName === undefined) {
      throw new AirlockError(ErrorCode.RuntimeUnavailable, 'no isolation runtime is available on this host; see GET /v1/health');
    }
    const availability = runtimes.availability(runtimeName);
    if (!availability.available) throw new AirlockError(ErrorCode.RuntimeUnavailable, `runtime ${runtimeName} is not available: ${availability.reason}`);
    const runtime = runtimes.get(runtimeName)!;
    const imageRef = req.image ?? 'default';
    if (imageRef !== 'default' && !runtime.capabilities.pulledImages) {
      throw invalidRequest(`runtime ${runtimeName} runs only the default image; use gvisor or runc for ${JSON.stringify(imageRef)}`);
    }
    const image = this.#d.images.find((i) => i.has(imageRef));
    if (!image) throw new AirlockError(ErrorCode.ImageNotFound, `image ${JSON.stringify(imageRef)} is not known to this server (available: default)`);
    const cpu = req.cpu ?? config.defaults.cpu;
    const memoryMiB = req.memoryMiB ?? config.defaults.memoryMiB;
    const diskMiB = req.diskMiB ?? config.defaults.diskMiB;
    if (cpu > config.limits.maxCpu) throw invalidRequest(`cpu ${cpu} exceeds this server's limit of ${config.limits.maxCpu}`);
    if (memoryMiB > config.limits.maxMemoryMiB) throw invalidRequest(`memoryMiB ${memoryMiB} exceeds this server's limit of ${config.limits.maxMemoryMiB}`);
    if (diskMiB > config.limits.maxDiskMiB) throw invalidRequest(`diskMiB ${diskMiB} exceeds this server's limit of ${config.limits.maxDiskMiB}`);
    // Pulls on first use; recorded on the sandbox so that the image cannot be removed under it.
    const imageId = await image.resolve(imageRef);
    const used = store.usedSlots();
    if (used.size >= config.limits.maxSandboxes) {
      throw new AirlockError(ErrorCode.Capacity, `this server already runs its limit of ${config.limits.maxSandboxes} sandboxes`);
    }
    let slot = 0;
    while (used.has(slot)) slot++;

    // gVisor counts its own host tasks (~25 plus a stub per address space) against pids.max, and a
    // pids limit hit there kills the whole sandbox: give it headroom so the limit is a host guard.
    const pids = config.defaults.pidsLimit + (runtime.capabilities.ownKernel ? 128 : 0);
    const timeout = req.timeout === undefined ? config.defaults.timeout : req.timeout;
    const record: SandboxRecord = {
      id: newSandboxId(),
      state: 'creating',
      runtime: runtimeName,
      image: imageRef,
      cpu,
      memoryMiB,
      pids,
      timeout,
      env: req.env ?? {},
      metadata: req.metadata ?? {},
      createdAt: new Date().toISOString(),
      startedAt: null,
      stoppedAt: null,
      expiresAt: null,
      stopReason: null,
      slot,
      imageId,
      diskMiB,
    };
    store.insertSandbox(record);
    const log = this.#d.log.child({ sandbox: record.id, runtime: runtimeName });
    try {
      const rootfs = await image.prepare(imageId, record.id, { memoryMiB, diskMiB, idmap: idmapFor(runtime, slot) });
      const conn = await runtime.start({ id: record.id, rootfs, cpu, memoryMiB, pids, slot });
      const now = new Date();
      this.#attach(record.id, conn, runtime, rootfs.defaults);
      const running = this.#transition(record.id, 'running', {
        startedAt: now.toISOString(),
        expiresAt: timeout === null ? null : new Date(now.getTime() + timeout * 1000).toISOString(),
      });
      log.info('sandbox running');
      return toWire(running);
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
    const record = this.#mustGet(id);
    if (record.state === 'destroyed') return toWire(record);
    let pending = this.#destroying.get(id);
    if (!pending) {
      pending = this.#teardown(record, reason, 'destroyed').finally(() => this.#destroying.delete(id));
      this.#destroying.set(id, pending);
    }
    return toWire(await pending);
  }

  async exec(id: string, req: ExecRequest): Promise<StartedExec> {
    const live = this.#requireLive('exec in', id);
    const record = this.#mustGet(id);
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
   * held, and remove runtime containers the Store does not know as live.
   */
  async reconcile(): Promise<{ adopted: number; lost: number; orphans: number }> {
    const { store, runtimes, log } = this.#d;
    let adopted = 0;
    let lost = 0;
    let orphans = 0;
    for (const record of store.listSandboxes({ states: [...LIVE_STATES] })) {
      const runtime = runtimes.get(record.runtime);
      if (record.state === 'creating') {
        // Never acknowledged: the create's caller got no answer. Remove it like a failed create.
        await runtime?.destroy(record.id).catch((err: unknown) => log.error({ err, sandbox: record.id }, 'cleanup failed'));
        store.deleteSandbox(record.id);
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
    return { adopted, lost, orphans };
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

  /** Stops background work and closes channels; sandboxes keep running for the next start to adopt. */
  close(): void {
    clearInterval(this.#sweeper);
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
    await runtime?.destroy(record.id);
    await this.#d.images.find((i) => i.has(record.image))?.release(record.id);
    const current = this.#d.store.getSandbox(record.id)!;
    const stoppedAt = current.stoppedAt ?? new Date().toISOString();
    const stopReason = current.stopReason ?? reason;
    if (current.state === 'stopped' && to === 'stopped') return current;
    if (current.state === 'running' && to === 'destroyed') this.#transition(record.id, 'stopped', { stoppedAt, stopReason });
    return this.#transition(record.id, to, { stoppedAt, stopReason });
  }

  #transition(id: string, to: SandboxState, patch: Partial<SandboxRecord>): SandboxRecord {
    const current = this.#mustGet(id);
    assertTransition(id, current.state, to);
    return this.#d.store.updateSandbox(id, { ...patch, state: to });
  }

  #mustGet(id: string): SandboxRecord {
    const r = this.#d.store.getSandbox(id);
    if (!r) throw notFound(`sandbox ${id}`);
    return r;
  }

  #requireLive(action: string, id: string): Live {
    const record = this.#mustGet(id);
    requireState(action, id, record.state, 'running');
    const live = this.#live.get(id);
    if (!live || live.conn.closed) throw new AirlockError(ErrorCode.InvalidState, `cannot ${action} sandbox ${id}: it is stopping`);
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
