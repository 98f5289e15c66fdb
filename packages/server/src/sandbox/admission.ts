/**
 * @module admission
 * Whether a sandbox may start: the server's sandbox limit, and the host's capacity (memory and CPU of
 * all sandboxes that hold host resources, with configurable overcommit). It also hands out the
 * slot, and with it the host uid/gid range, a sandbox owns. Each project's quotas (sandboxes, vCPU,
 * memory, disk of what holds host resources) are checked in the same synchronous step; a pooled
 * sandbox counts against no project until one claims it.
 *
 * The view is in memory, loaded from the store at start: this server is the only writer of its data
 * dir, and a reservation must be synchronous, so two concurrent creates can never take the same slot
 * or the last of the memory.
 */
import { ErrorCode } from '@airlock/protocol/errors';
import type { Config } from '../config.js';
import { AirlockError, invalidRequest, notFound } from '../errors.js';
import type { SandboxRecord } from '../store/store.js';
import { quotaExceeded, quotaLimit, type ProjectQuotas } from '../tenancy/quotas.js';

export interface Reservation {
  readonly slot: number;
  readonly hostIds: { base: number; size: number };
}

interface Held {
  cpu: number;
  memoryMiB: number;
  diskMiB?: number;
}

/** What a slot's holder reserved, and who holds it: a release by anyone else is a no-op. */
interface Holding extends Held {
  owner: string;
  /** null: a warm pool's, nobody's yet. */
  project: string | null;
}

export class Admission {
  readonly #config: Config;
  readonly #quotas: ProjectQuotas | undefined;
  readonly #held = new Map<number, Holding>();
  #memoryMiB = 0;
  #cpu = 0;

  constructor(config: Config, quotas?: ProjectQuotas) {
    this.#config = config;
    this.#quotas = quotas;
  }

  /** Rebuilds the view from the sandboxes that hold host resources (at start, before anything else). */
  load(records: SandboxRecord[]): void {
    this.#held.clear();
    this.#memoryMiB = 0;
    this.#cpu = 0;
    for (const r of records)
      this.#hold(r.slot, { cpu: r.cpu, memoryMiB: r.memoryMiB, diskMiB: r.diskMiB, owner: r.id, project: r.pool === null ? r.project : null });
  }

  /** Memory all sandboxes together may use: host memory minus the reserve, times the overcommit. */
  get memoryBudgetMiB(): number {
    const { machine, limits } = this.#config;
    return Math.floor(Math.max(0, machine.memoryMiB - limits.hostMemoryReserveMiB) * limits.memoryOvercommit);
  }

  get cpuBudget(): number {
    return this.#config.machine.cpus * this.#config.limits.cpuOvercommit;
  }

  get count(): number {
    return this.#held.size;
  }

  /** Whether another sandbox would fit by count (pools ask before a refill). */
  get full(): boolean {
    return this.#held.size >= this.#config.limits.maxSandboxes;
  }

  /**
   * Checks that a sandbox of this size could ever fit on this host (a 400 if not: retrying cannot
   * help), without reserving anything.
   */
  check(size: Held): void {
    if (size.memoryMiB > this.memoryBudgetMiB) {
      throw invalidRequest(
        `memoryMiB ${size.memoryMiB} is more than this host can give one sandbox (${this.memoryBudgetMiB} MiB: ${this.#config.machine.memoryMiB} MiB of memory, ${this.#config.limits.hostMemoryReserveMiB} MiB reserved, overcommit ${this.#config.limits.memoryOvercommit})`,
      );
    }
    if (size.cpu > this.#config.machine.cpus) throw invalidRequest(`cpu ${size.cpu} is more than this host's ${this.#config.machine.cpus} cores`);
  }

  /** What a project's sandboxes hold now. */
  usage(project: string): { sandboxes: number; cpu: number; memoryMiB: number; diskMiB: number } {
    const u = { sandboxes: 0, cpu: 0, memoryMiB: 0, diskMiB: 0 };
    for (const h of this.#held.values()) {
      if (h.project !== project) continue;
      u.sandboxes++;
      u.cpu += h.cpu;
      u.memoryMiB += h.memoryMiB;
      u.diskMiB += h.diskMiB ?? 0;
    }
    return u;
  }

  /** Throws quota_limit / quota_exceeded if one more sandbox of this size would not fit the project's quotas. */
  checkProject(project: string, size: Held): void {
    if (!this.#quotas) return;
    if (this.#quotas.isClosed(project)) throw notFound(`project ${project}`);
    const q = this.#quotas.of(project);
    const u = this.usage(project);
    const asks = { sandboxes: 1, cpu: size.cpu, memoryMiB: size.memoryMiB, diskMiB: size.diskMiB ?? 0 };
    for (const k of ['sandboxes', 'cpu', 'memoryMiB', 'diskMiB'] as const) {
      const limit = q[k];
      if (limit === null) continue;
      if (asks[k] > limit || (k === 'sandboxes' && limit === 0)) throw quotaLimit(project, k, limit, asks[k]);
      if (u[k] + asks[k] > limit) throw quotaExceeded(project, k, limit, u[k]);
    }
  }

  /** A pooled sandbox handed to a project: from now on it counts against that project's quotas (checked). */
  assign(slot: number, owner: string, project: string): void {
    const h = this.#held.get(slot);
    if (!h || h.owner !== owner) return;
    this.checkProject(project, h);
    h.project = project;
  }

  /**
   * Reserves a slot and the sandbox's share of the host for `owner` (a sandbox id) of `project` (null:
   * a warm pool's), or throws `capacity` (429: retry later) or a quota error.
   */
  reserve(size: Held, owner: string, project: string | null = null): Reservation {
    this.check(size);
    if (project !== null) this.checkProject(project, size);
    const { limits } = this.#config;
    if (this.#held.size >= limits.maxSandboxes)
      throw new AirlockError(ErrorCode.Capacity, `this server already runs its limit of ${limits.maxSandboxes} sandboxes`);
    if (this.#memoryMiB + size.memoryMiB > this.memoryBudgetMiB) {
      throw new AirlockError(
        ErrorCode.Capacity,
        `the host's memory is taken: sandboxes hold ${this.#memoryMiB} of ${this.memoryBudgetMiB} MiB, and this one asks for ${size.memoryMiB} MiB; destroy some or retry later`,
      );
    }
    if (this.#cpu + size.cpu > this.cpuBudget) {
      throw new AirlockError(
        ErrorCode.Capacity,
        `the host's CPU is taken: sandboxes hold ${this.#cpu} of ${this.cpuBudget} vCPUs; destroy some or retry later`,
      );
    }
    let slot = 0;
    while (this.#held.has(slot)) slot++;
    this.#hold(slot, { cpu: size.cpu, memoryMiB: size.memoryMiB, diskMiB: size.diskMiB ?? 0, owner, project });
    return { slot, hostIds: this.hostIdsOf(slot) };
  }

  /**
   * Gives a slot and its share back (the sandbox released every host resource). Only its owner's
   * release counts: a create that fails after a destroy already freed its slot must not free the
   * slot again once another sandbox holds it, or two sandboxes would share one host uid range.
   */
  release(slot: number, owner: string): void {
    const h = this.#held.get(slot);
    if (!h || h.owner !== owner) return;
    this.#held.delete(slot);
    this.#memoryMiB -= h.memoryMiB;
    this.#cpu -= h.cpu;
  }

  hostIdsOf(slot: number): { base: number; size: number } {
    const { base, size } = this.#config.hostIds;
    return { base: base + slot * size, size };
  }

  #hold(slot: number, size: Holding): void {
    this.#held.set(slot, size);
    this.#memoryMiB += size.memoryMiB;
    this.#cpu += size.cpu;
  }
}
