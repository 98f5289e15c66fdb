/**
 * @module quotas
 * Each project's quotas (the server's defaults with the admin's overrides), held in memory so that
 * admission can check them synchronously: two concurrent creates can never both take a project's
 * last sandbox. Also the counters of what is in flight per project (execs and streams, pulls).
 *
 * A request over a quota is `quota_exceeded` (429: retry once something is released); a request
 * that alone is more than the quota allows is `quota_limit` (403: retrying cannot help). Both name
 * the quota and its limit.
 */
import { ErrorCode } from '@airlock/protocol/errors';
import type { TenancyConfig } from '../config.js';
import { AirlockError } from '../errors.js';

export type Quotas = TenancyConfig['quotas'];
export type QuotaName = keyof Quotas & string;
export type Overrides = Partial<Record<string, number | null>>;

const UNITS: Record<QuotaName, string> = {
  sandboxes: 'sandboxes',
  cpu: 'vCPUs',
  memoryMiB: 'MiB of memory',
  diskMiB: 'MiB of disk',
  imageBytes: 'bytes of images',
  execs: 'execs and streams in flight',
  pulls: 'pulls, imports and builds in flight',
};

export function quotaExceeded(project: string, name: QuotaName, limit: number, used: number): AirlockError {
  return new AirlockError(
    ErrorCode.QuotaExceeded,
    `project ${project} is at its quota ${name}=${limit} (${UNITS[name]}; ${used} in use): release some or ask the admin for more`,
  );
}

export function quotaLimit(project: string, name: QuotaName, limit: number, asked: number): AirlockError {
  return new AirlockError(ErrorCode.QuotaLimit, `project ${project} may never have more than ${name}=${limit} (${UNITS[name]}); this asks for ${asked}`);
}

export class ProjectQuotas {
  readonly #defaults: Quotas;
  readonly #overrides = new Map<string, Overrides>();
  readonly #inFlight = new Map<string, { execs: number; pulls: number }>();
  readonly #closed = new Set<string>();

  constructor(defaults: Quotas) {
    this.#defaults = defaults;
  }

  setOverrides(project: string, overrides: Overrides): void {
    this.#overrides.set(project, overrides);
  }

  forget(project: string): void {
    this.#overrides.delete(project);
  }

  /**
   * A project being deleted takes no new sandbox: admission refuses it from the moment its delete
   * checked that nothing is held, so a create in flight cannot land in a deleted project.
   */
  close(project: string): void {
    this.#closed.add(project);
  }

  /** A delete that was refused, or a project created again under that name. */
  reopen(project: string): void {
    this.#closed.delete(project);
  }

  isClosed(project: string): boolean {
    return this.#closed.has(project);
  }

  of(project: string): Quotas {
    const o = this.#overrides.get(project) ?? {};
    const q = { ...this.#defaults };
    for (const k of Object.keys(q) as QuotaName[]) if (k in o) q[k] = o[k] ?? null;
    return q;
  }

  inFlight(project: string): { execs: number; pulls: number } {
    return { ...(this.#inFlight.get(project) ?? { execs: 0, pulls: 0 }) };
  }

  /** Takes one execs or pulls unit for the project, or throws; the returned function gives it back (once). */
  acquire(project: string, name: 'execs' | 'pulls'): () => void {
    const limit = this.of(project)[name];
    let f = this.#inFlight.get(project);
    if (!f) this.#inFlight.set(project, (f = { execs: 0, pulls: 0 }));
    if (limit !== null) {
      if (limit === 0) throw quotaLimit(project, name, limit, 1);
      if (f[name] >= limit) throw quotaExceeded(project, name, limit, f[name]);
    }
    f[name]++;
    let released = false;
    const counters = f;
    return () => {
      if (released) return;
      released = true;
      counters[name]--;
      if (counters.execs === 0 && counters.pulls === 0) this.#inFlight.delete(project);
    };
  }
}
