/**
 * @module service
 * The sandbox domain's facade: create, look up, exec, files, destroy, and the background work
 * (warm pools, expiry, the agent watchdog, crash recovery). It composes the parts — admission,
 * creation, the live channels, teardown, reconciliation — and never sees HTTP: it takes typed
 * commands and returns domain objects, which the API maps to the wire.
 */
import type { NetworkEvent, NetworkSettings, RuntimeName, StopReason } from '@airlock/protocol';
import { ErrorCode } from '@airlock/protocol/errors';
import type { Config } from '../config.js';
import { AirlockError, notFound } from '../errors.js';
import type { ImageProvider } from '../images/image.js';
import type { Logger } from '../log.js';
import type { NetworkService } from '../network/network-service.js';
import type { RuntimeRegistry } from '../runtimes/registry.js';
import { DEFAULT_PROJECT, type SandboxFilter, type SandboxRecord, type Store } from '../store/store.js';
import type { ProjectQuotas } from '../tenancy/quotas.js';
import { Admission } from './admission.js';
import type { CreateSandbox } from './commands.js';
import { Creator, type LateBound } from './create.js';
import { runExec, type ExecCommand, type StartedExec } from './exec-run.js';
import { ProcessService } from '../processes/process-service.js';
import { InterpreterService } from '../interpreter/interpreter-service.js';
import { FileOps } from './file-ops.js';
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
import { liveSettings, pruneJournals } from './live-settings.js';
import { rootInside } from './root-user.js';
import { SandboxNetworks, type NetworkView } from './sandbox-network.js';

export type { NetworkView } from './sandbox-network.js';
import type { SandboxObserver } from './observer.js';

export type { CreateSandbox } from './commands.js';

/** A sandbox as the domain reports it: its record and the health of its agent. */
export type SandboxView = SandboxRecord & { agent: { responsive: boolean; unresponsiveSince: string | null }; networkAddress: string | null };

export interface SandboxServiceDeps {
  config: Config;
  store: Store;
  runtimes: RuntimeRegistry;
  images: ImageProvider[];
  log: Logger;
  releases: Releases;
  network?: NetworkService | undefined;
  /** Each project's quotas (tenancy/quotas.ts); absent: none. */
  quotas?: ProjectQuotas;
  /** Metrics and lifecycle events (observe/); nothing watches when absent. */
  observer?: SandboxObserver | undefined;
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
  readonly #networks: SandboxNetworks;
  /** Processes of running sandboxes (processes/process-service.ts). */
  readonly processes: ProcessService;
  /** Code contexts of running sandboxes (interpreter/). */
  readonly interpreter: InterpreterService;
  /** The file API beyond read/write/list (sandbox/file-ops.ts). */
  readonly fileOps: FileOps;

  constructor(deps: SandboxServiceDeps) {
    this.#d = deps;
    const { config, store, log } = deps;
    this.#admission = new Admission(config, deps.quotas);
    this.#fileLimits = { idleMs: config.agent.fileIdleMs, maxListEntries: config.limits.maxListEntries };
    this.#networks = new SandboxNetworks({ sandboxes: store.sandboxes, network: deps.network, get: (id) => this.#mustGet(id) });
    this.#expiry = new ExpiryTimers({ expire: (id) => void this.#expire(id) });
    this.#live = new LiveSandboxes({
      ...liveSettings(config),
      log,
      onStopped: (live, info) => void this.#stoppedOnItsOwn(live, info.reason, info.detail),
      onProcess: (id, runtime, what, entry) => deps.observer?.process(id, runtime.name, what, entry),
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
      network: deps.network,
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
      network: deps.network,
      discard: async (id) => {
        const record = await store.sandboxes.get(id);
        if (record && record.state !== 'destroyed') await this.#teardown.destroy(record, 'destroyed', 'a warm pool sandbox whose policy could not be bound');
      },
    });
    this.#pools = new WarmPools({
      shapes: config.pools.shapes,
      refillConcurrency: config.pools.refillConcurrency,
      refillDelayMs: config.pools.refillDelayMs,
      log,
      fill: async (shape, key) => {
        const id = (
          await this.#creator.start(resolveShape(deps, shape), { project: DEFAULT_PROJECT, env: {}, metadata: {}, timeout: null, network: null }, key)
        ).id;
        if (!shape.codeContext) return id;
        // A pooled code-interpreter sandbox: its default Python context is running, the heavy imports done.
        try {
          await this.interpreter.prewarm(id, shape.codeContext.preload);
        } catch (e) {
          const record = await store.sandboxes.get(id);
          if (record && record.state !== 'destroyed') await this.#teardown.destroy(record, 'destroyed', 'a warm pool sandbox whose code context did not start');
          throw e;
        }
        return id;
      },
      discard: async (id) => {
        const record = await store.sandboxes.get(id);
        if (record && record.state !== 'destroyed') await this.#teardown.destroy(record, 'destroyed', 'a warm pool sandbox nobody took');
      },
      unavailable: (shape) => {
        const a = deps.runtimes.availability(shape.runtime);
        return a.available ? undefined : `runtime ${shape.runtime} is not available: ${a.reason}`;
      },
      noRoom: () => {
        if (this.#admission.full) return 'the server is at its sandbox limit';
        if (this.#creator.waiting > 0) return 'a create is waiting for room at the sandbox limit';
        return undefined;
      },
    });
    this.processes = new ProcessService({ live: (action, id) => this.liveFor(action, id), rootInside: (live, user) => rootInside(live, user) });
    this.interpreter = new InterpreterService({
      processes: this.processes,
      // Warm pools start a code context before the sandbox is handed out (and so visible).
      poolProcesses: new ProcessService({ live: async (action, id) => this.#liveAny(action, id), rootInside: (live, user) => rootInside(live, user) }),
      requireRunning: async (id) => void (await this.liveFor('run code in', id)),
    });
    this.fileOps = new FileOps({
      live: (action, id) => this.liveFor(action, id),
      limits: { ...this.#fileLimits, maxBatchFiles: config.processes.maxBatchFiles, maxBatchBytes: config.processes.maxBatchBytes },
    });
    this.#watchdog = new Watchdog(this.#live, { intervalMs: config.agent.pingIntervalMs, maxMissed: config.agent.maxMissedPings, log });
  }

  async create(cmd: CreateSandbox): Promise<SandboxView> {
    const t0 = performance.now();
    let source: 'pool' | 'cold' = 'cold';
    const done = (runtime: RuntimeName, ok: boolean) =>
      this.#d.observer?.created({ runtime, project: cmd.project ?? DEFAULT_PROJECT, seconds: (performance.now() - t0) / 1000, source, ok });
    let runtime: RuntimeName | undefined = cmd.runtime;
    try {
      const shape = resolveShape(this.#d, cmd);
      runtime = shape.runtime.name;
      const view = await this.#create(cmd, shape, () => (source = 'pool'));
      done(view.runtime, true);
      return view;
    } catch (e) {
      if (runtime !== undefined) done(runtime, false);
      throw e;
    }
  }

  async #create(cmd: CreateSandbox, shape: ReturnType<typeof resolveShape>, pooled: () => void): Promise<SandboxView> {
    const late: LateBound = {
      project: cmd.project ?? DEFAULT_PROJECT,
      env: cmd.env ?? {},
      metadata: cmd.metadata ?? {},
      timeout: cmd.timeout === undefined ? this.#d.config.defaults.timeout : cmd.timeout,
      network: cmd.network ?? null,
    };
    const key = shapeKey({ ...shape, runtime: shape.runtime.name });
    // A pooled sandbox runs the pool's image: not for a project whose own tag of that name is another.
    if (this.#pools.has(key) && (await (shape.imageProvider.poolServes?.(shape.image, late.project) ?? true))) {
      // Refused before a pooled sandbox is taken: over quota, the pool keeps it.
      await this.#creator.fitsProject(late.project, { cpu: shape.cpu, memoryMiB: shape.memoryMiB, diskMiB: shape.diskMiB });
      const claimed = await this.#creator.claim(key, late);
      this.#pools.count(key, claimed !== undefined);
      this.#d.observer?.poolClaim(shape.runtime.name, claimed !== undefined);
      if (claimed) {
        pooled();
        this.interpreter.claimed(claimed.id, late.env);
        this.#d.log.info({ sandbox: claimed.id, runtime: claimed.runtime }, 'sandbox handed out from the warm pool');
        return this.#view(claimed);
      }
    }
    return this.#view(await this.#creator.start(shape, late, null));
  }

  /** Whether a create like this one would fit its project's quotas now (throws as the create would). */
  async fitsQuota(cmd: CreateSandbox): Promise<void> {
    const shape = resolveShape(this.#d, cmd);
    await this.#creator.fitsProject(cmd.project ?? DEFAULT_PROJECT, { cpu: shape.cpu, memoryMiB: shape.memoryMiB, diskMiB: shape.diskMiB });
  }

  async get(id: string): Promise<SandboxView> {
    return this.#view(await this.#mustGet(id));
  }

  async list(filter: SandboxFilter): Promise<SandboxView[]> {
    const states = filter.states ?? [...LIVE_STATES];
    return (await this.#d.store.sandboxes.list({ ...filter, states })).map((r) => this.#view(r));
  }

  async destroy(id: string, reason: StopReason = 'destroyed'): Promise<SandboxView> {
    const record = await this.#mustGet(id);
    const t0 = performance.now();
    const view = this.#view(await this.#teardown.destroy(record, reason));
    this.#d.observer?.destroyed({ runtime: record.runtime, seconds: (performance.now() - t0) / 1000 });
    return view;
  }

  async exec(id: string, cmd: ExecCommand): Promise<StartedExec> {
    const record = await this.#mustGet(id);
    const live = this.#liveOf('exec in', record);
    rootInside(live, cmd.user);
    return runExec({ processes: live.processes, defaults: live.defaults, sandboxEnv: record.env }, cmd);
  }

  /**
   * A running sandbox's live parts, for the process and file-operation services (processes/,
   * sandbox/file-ops.ts), with what its environment is; 404 / 409 as for exec.
   */
  async liveFor(action: string, id: string): Promise<{ live: LiveSandbox; env: Record<string, string> }> {
    const record = await this.#mustGet(id);
    return { live: this.#liveOf(action, record), env: record.env };
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

  /** A running sandbox's network settings replace the previous ones; a failure leaves those in force. */
  updateNetwork(id: string, settings: NetworkSettings): Promise<NetworkView> {
    return this.#networks.update(id, settings);
  }

  network(id: string): Promise<NetworkView> {
    return this.#networks.view(id);
  }

  networkEvents(id: string, since = 0): Promise<{ events: NetworkEvent[]; dropped: number }> {
    return this.#networks.events(id, since);
  }

  /** Where an exposed port is reached from the host side, once the caller showed its ports token (sandbox-network.ts). */
  portTarget(id: string, port: number, token: string | undefined): Promise<{ host: string; port: number }> {
    return this.#networks.portTarget(id, port, token);
  }

  /** What a project's sandboxes hold now (what its quotas count). */
  usage(project: string): { sandboxes: number; cpu: number; memoryMiB: number; diskMiB: number } {
    return this.#admission.usage(project);
  }

  /** Warm pools as the API reports them. */
  pools() {
    return { pools: this.#pools.status(), refillConcurrency: this.#d.config.pools.refillConcurrency };
  }

  /** After a restart, before anything else: adopt, clean up, rebuild admission's view. */
  reconcile(): Promise<ReconcileReport> {
    return this.#reconcileAndPrune();
  }

  async #reconcileAndPrune(): Promise<ReconcileReport> {
    const report = await reconcile({
      sandboxes: this.#d.store.sandboxes,
      runtimes: this.#d.runtimes,
      images: this.#d.images,
      live: this.#live,
      admission: this.#admission,
      teardown: this.#teardown,
      expiry: this.#expiry,
      log: this.#d.log,
      concurrency: this.#d.config.reconcileConcurrency,
      network: this.#d.network,
    });
    pruneJournals(this.#d.config, (id) => this.#live.get(id) !== undefined);
    return report;
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
    await this.#teardown.close();
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
    await this.#teardown
      .destroy(r, 'timeout', `its timeout of ${r.timeout} s elapsed`)
      .catch((err: unknown) => this.#d.log.error({ err, sandbox: id }, 'timeout destroy failed'));
  }

  async #stoppedOnItsOwn(live: LiveSandbox, reason: StopReason | null, detail: string): Promise<void> {
    const record = await this.#d.store.sandboxes.get(live.id);
    if (record?.pool !== null && record?.pool !== undefined) {
      this.#d.log.warn({ sandbox: live.id, reason, detail }, 'a pooled sandbox stopped while waiting; destroying it');
      this.#pools.forget(live.id);
      await this.#teardown
        .destroy(record, reason ?? 'exited', detail)
        .catch((err: unknown) => this.#d.log.error({ err, sandbox: live.id }, 'cleanup of a pooled sandbox failed'));
      return;
    }
    await this.#teardown
      .stoppedOnItsOwn(live.id, { reason, detail })
      .catch((err: unknown) => this.#d.log.error({ err, sandbox: live.id }, 'cleanup of a stopped sandbox failed'));
  }

  #view(r: SandboxRecord): SandboxView {
    const live = this.#live.get(r.id);
    return {
      ...r,
      networkAddress: this.#d.network?.attachmentOf(r.id)?.address ?? null,
      agent: { responsive: live ? live.unresponsiveSince === null : r.state === 'running', unresponsiveSince: live?.unresponsiveSince ?? null },
    };
  }

  /** A sandbox as users see it: one waiting in a warm pool does not exist for them. */
  async #mustGet(id: string): Promise<SandboxRecord> {
    const r = await this.#d.store.sandboxes.get(id);
    if (!r || r.pool !== null) throw notFound(`sandbox ${id}`);
    return r;
  }

  /** A live sandbox, pooled (not yet handed out) or not: for the server's own work in it. */
  async #liveAny(action: string, id: string): Promise<{ live: LiveSandbox; env: Record<string, string> }> {
    const r = await this.#d.store.sandboxes.get(id);
    if (!r) throw notFound(`sandbox ${id}`);
    return { live: this.#liveOf(action, r), env: r.env };
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
