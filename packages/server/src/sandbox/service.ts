/**
 * @module service
 * The sandbox domain's facade: create, look up, exec, files, destroy, and the background work
 * (warm pools, expiry, the agent watchdog, crash recovery). It composes the parts — admission,
 * creation, the live channels, teardown, reconciliation — and never sees HTTP: it takes typed
 * commands and returns domain objects, which the API maps to the wire.
 */
import type { RuntimeName, StopReason } from '@airlock/protocol';
import { ErrorCode } from '@airlock/protocol/errors';
import type { Config } from '../config.js';
import { AirlockError, notFound } from '../errors.js';
import type { ImageProvider } from '../images/image.js';
import type { Logger } from '../log.js';
import type { RuntimeRegistry } from '../runtimes/registry.js';
import { DEFAULT_PROJECT, type SandboxFilter, type SandboxRecord, type Store } from '../store/store.js';
import { Admission } from './admission.js';
import { Creator, type LateBound } from './create.js';
import { runExec, type ExecCommand, type StartedExec } from './exec-run.js';
import { listSandboxDir, readSandboxFile, writeSandboxFile, type FileLimits } from './files.js';
import { LIVE_STATES, requireState } from './lifecycle.js';
import { LiveSandboxes, type LiveSandbox } from './live.js';
import { reconcile, type ReconcileReport } from './reconcile.js';
import type { Releases } from './releases.js';
import { resolveShape } from './shape.js';
import { Teardown } from './teardown.js';
import { ExpiryTimers } from './timeouts.js';
import { WarmPools, shapeKey } from './warm-pools.js';
import { Watchdog } from './watchdog.js';

/** What a create asks for (validated at the edge). */
export interface CreateSandbox {
  project?: string;
  image?: string | undefined;
  runtime?: RuntimeName | undefined;
  cpu?: number | undefined;
  memoryMiB?: number | undefined;
  diskMiB?: number | undefined;
  /** Seconds; null: no limit; undefined: the server's default. */
  timeout?: number | null | undefined;
  env?: Record<string, string> | undefined;
  metadata?: Record<string, string> | undefined;
}

/** A sandbox as the domain reports it: its record and the health of its agent. */
export type SandboxView = SandboxRecord & { agent: { responsive: boolean; unresponsiveSince: string | null } };

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
  readonly #admission: Admission;
  readonly #live: LiveSandboxes;
  readonly #expiry: ExpiryTimers;
  readonly #teardown: Teardown;
  readonly #creator: Creator;
  readonly #pools: WarmPools;
  readonly #watchdog: Watchdog;
  readonly #fileLimits: FileLimits;

  constructor(deps: SandboxServiceDeps) {
    this.#d = deps;
    const { config, store, log } = deps;
    this.#admission = new Admission(config);
    this.#fileLimits = { idleMs: config.agent.fileIdleMs, maxListEntries: config.limits.maxListEntries };
    this.#expiry = new ExpiryTimers({ expire: (id) => void this.#expire(id) });
    this.#live = new LiveSandboxes({
      readyTimeoutMs: config.agent.readyTimeoutMs,
      limits: {
        maxChannels: config.limits.maxOperationsPerSandbox,
        preSyncBytes: 4 * 1024 * 1024,
        framesPerSecond: config.agent.framesPerSecond,
        bytesPerSecond: config.agent.bytesPerSecond,
      },
      log,
      onStopped: (live, info) => void this.#stoppedOnItsOwn(live, info.reason, info.detail),
    });
    this.#teardown = new Teardown({
      sandboxes: store.sandboxes,
      runtimes: deps.runtimes,
      images: deps.images,
      live: this.#live,
      admission: this.#admission,
      releases: deps.releases,
      expiry: this.#expiry,
      log,
      slotFree: () => this.#pools.refill(),
    });
    this.#creator = new Creator({
      config,
      sandboxes: store.sandboxes,
      admission: this.#admission,
      live: this.#live,
      releases: deps.releases,
      expiry: this.#expiry,
      log,
      pools: () => this.#pools,
    });
    this.#pools = new WarmPools({
      shapes: config.pools.shapes,
      refillConcurrency: config.pools.refillConcurrency,
      refillDelayMs: config.pools.refillDelayMs,
      log,
      fill: async (shape, key) => (await this.#creator.start(resolveShape(deps, shape), { project: DEFAULT_PROJECT, env: {}, metadata: {}, timeout: null }, key)).id,
      discard: async (id) => {
        const record = await store.sandboxes.get(id);
        if (record && record.state !== 'destroyed') await this.#teardown.destroy(record, 'destroyed', 'a warm pool sandbox nobody took');
      },
      blocked: (shape) => {
        const a = deps.runtimes.availability(shape.runtime);
        if (!a.available) return `runtime ${shape.runtime} is not available: ${a.reason}`;
        if (this.#admission.full) return 'the server is at its sandbox limit';
        if (this.#creator.waiting > 0) return 'a create is waiting for room at the sandbox limit';
        return undefined;
      },
    });
    this.#watchdog = new Watchdog(this.#live, { intervalMs: config.agent.pingIntervalMs, maxMissed: config.agent.maxMissedPings, log });
  }

  async create(cmd: CreateSandbox): Promise<SandboxView> {
    const shape = resolveShape(this.#d, cmd);
    const late: LateBound = {
      project: cmd.project ?? DEFAULT_PROJECT,
      env: cmd.env ?? {},
      metadata: cmd.metadata ?? {},
      timeout: cmd.timeout === undefined ? this.#d.config.defaults.timeout : cmd.timeout,
    };
    const key = shapeKey({ ...shape, runtime: shape.runtime.name });
    if (this.#pools.has(key) && late.project === DEFAULT_PROJECT) {
      const claimed = await this.#creator.claim(key, late);
      this.#pools.count(key, claimed !== undefined);
      if (claimed) {
        this.#d.log.info({ sandbox: claimed.id, runtime: claimed.runtime }, 'sandbox handed out from the warm pool');
        return this.#view(claimed);
      }
    }
    return this.#view(await this.#creator.start(shape, late, null));
  }

  async get(id: string): Promise<SandboxView> {
    return this.#view(await this.#mustGet(id));
  }

  async list(filter: SandboxFilter): Promise<SandboxView[]> {
    const states = filter.states ?? [...LIVE_STATES];
    return (await this.#d.store.sandboxes.list({ ...filter, states })).map((r) => this.#view(r));
  }

  async destroy(id: string, reason: StopReason = 'destroyed'): Promise<SandboxView> {
    return this.#view(await this.#teardown.destroy(await this.#mustGet(id), reason));
  }

  async exec(id: string, cmd: ExecCommand): Promise<StartedExec> {
    const record = await this.#mustGet(id);
    const live = this.#liveOf('exec in', record);
    if (!live.runtime.description.rootInside && isRoot(cmd.user)) {
      throw new AirlockError(ErrorCode.ExecFailed, `${live.runtime.name} sandboxes have no root user (one unprivileged uid is mapped, to "user"); run the command as user, or use a runtime with root inside (runc, gvisor)`);
    }
    return runExec(
      {
        conn: live.conn,
        defaults: live.defaults,
        sandboxEnv: record.env,
        oomKills: () => live.oomKills,
        syncOom: () => live.handle.sync(),
        stopped: () => live.stopped,
        startTimeoutMs: this.#d.config.agent.startTimeoutMs,
      },
      cmd,
    );
  }

  async writeFile(id: string, path: string, data: AsyncIterable<Uint8Array> | Uint8Array, opts: { mode?: number; user?: string }): Promise<number> {
    return writeSandboxFile(await this.#requireLive('write a file in', id), path, data, opts, this.#fileLimits);
  }

  async readFile(id: string, path: string, opts: { user?: string } = {}): Promise<AsyncIterable<Buffer>> {
    return readSandboxFile(await this.#requireLive('read a file in', id), path, opts, this.#fileLimits);
  }

  async listDir(id: string, path: string, opts: { user?: string } = {}) {
    return listSandboxDir(await this.#requireLive('list files in', id), path, opts, this.#fileLimits);
  }

  /** Warm pools as the API reports them. */
  pools() {
    return { pools: this.#pools.status(), refillConcurrency: this.#d.config.pools.refillConcurrency };
  }

  /** After a restart, before anything else: adopt, clean up, rebuild admission's view. */
  reconcile(): Promise<ReconcileReport> {
    return reconcile({
      sandboxes: this.#d.store.sandboxes,
      runtimes: this.#d.runtimes,
      images: this.#d.images,
      live: this.#live,
      admission: this.#admission,
      teardown: this.#teardown,
      expiry: this.#expiry,
      log: this.#d.log,
      concurrency: this.#d.config.reconcileConcurrency,
    });
  }

  /** Starts the background work: pool refills and the agent watchdog (expiry timers run from reconcile on). */
  start(): void {
    this.#pools.start();
    this.#watchdog.start();
  }

  /**
   * Stops background work, destroys the warm pools' sandboxes (nobody could adopt them) and waits for
   * destroys in flight, then closes channels; sandboxes handed out keep running for the next start to adopt.
   */
  async close(): Promise<void> {
    this.#expiry.close();
    await this.#watchdog.close();
    await this.#pools.close();
    await this.#teardown.settled();
    this.#live.closeAll();
  }

  /** Destroys every live sandbox (used by tests and an explicit shutdown). */
  async destroyAll(): Promise<void> {
    const live = await this.#d.store.sandboxes.list({ states: [...LIVE_STATES] });
    await Promise.all(live.map((r) => this.#teardown.destroy(r, 'destroyed')));
  }

  async #expire(id: string): Promise<void> {
    const r = await this.#d.store.sandboxes.get(id);
    if (!r || r.state !== 'running' || r.expiresAt === null || Date.parse(r.expiresAt) > Date.now()) return;
    this.#d.log.info({ sandbox: id }, 'timeout elapsed; destroying');
    await this.#teardown.destroy(r, 'timeout', `its timeout of ${r.timeout} s elapsed`).catch((err: unknown) => this.#d.log.error({ err, sandbox: id }, 'timeout destroy failed'));
  }

  async #stoppedOnItsOwn(live: LiveSandbox, reason: StopReason | null, detail: string): Promise<void> {
    const record = await this.#d.store.sandboxes.get(live.id);
    if (record?.pool !== null && record?.pool !== undefined) {
      this.#d.log.warn({ sandbox: live.id, reason, detail }, 'a pooled sandbox stopped while waiting; destroying it');
      this.#pools.forget(live.id);
      await this.#teardown.destroy(record, reason ?? 'exited', detail).catch((err: unknown) => this.#d.log.error({ err, sandbox: live.id }, 'cleanup of a pooled sandbox failed'));
      return;
    }
    await this.#teardown.stoppedOnItsOwn(live.id, { reason, detail }).catch((err: unknown) => this.#d.log.error({ err, sandbox: live.id }, 'cleanup of a stopped sandbox failed'));
  }

  #view(r: SandboxRecord): SandboxView {
    const live = this.#live.get(r.id);
    return { ...r, agent: { responsive: live ? live.unresponsiveSince === null : r.state === 'running', unresponsiveSince: live?.unresponsiveSince ?? null } };
  }

  /** A sandbox as users see it: one waiting in a warm pool does not exist for them. */
  async #mustGet(id: string): Promise<SandboxRecord> {
    const r = await this.#d.store.sandboxes.get(id);
    if (!r || r.pool !== null) throw notFound(`sandbox ${id}`);
    return r;
  }

  async #requireLive(action: string, id: string): Promise<LiveSandbox> {
    return this.#liveOf(action, await this.#mustGet(id));
  }

  #liveOf(action: string, record: SandboxRecord): LiveSandbox {
    requireState(action, record.id, record.state, 'running');
    const live = this.#live.get(record.id);
    if (!live || live.conn.closed) throw new AirlockError(ErrorCode.InvalidState, `cannot ${action} sandbox ${record.id}: it is stopping`);
    return live;
  }
}

function isRoot(user: string | undefined): boolean {
  return user === 'root' || user === '0' || (user !== undefined && /^0:/.test(user));
}
