/**
 * @module audit-log
 * Who (key id, project) did what, when, with what result: every mutating request, key and project
 * changes, policy changes. An exec records its argv, never its env. Append-only from the API's
 * point of view; retention (a maximum count and age) is the only deletion, run as events arrive.
 * A failed append is logged, never the request's failure.
 */
import type { Logger } from '../log.js';
import type { AuditRecord, AuditStore } from '../store/store.js';

const MAX_ARGV = 64;
const MAX_ARG = 256;
const PRUNE_EVERY = 1000;

export class AuditLog {
  readonly #store: AuditStore;
  readonly #log: Logger;
  readonly #retention: { maxEvents: number; maxAgeDays: number };
  #sincePrune = 0;

  constructor(store: AuditStore, retention: { maxEvents: number; maxAgeDays: number }, log: Logger) {
    this.#store = store;
    this.#retention = retention;
    this.#log = log;
  }

  async record(e: Omit<AuditRecord, 'seq' | 'at'>): Promise<void> {
    try {
      // Bounded: an argv is the user's, but a row must stay small.
      const argv = e.argv === null ? null : e.argv.slice(0, MAX_ARGV).map((a) => (a.length > MAX_ARG ? `${a.slice(0, MAX_ARG)}…` : a));
      await this.#store.append({ ...e, target: e.target === null ? null : e.target.slice(0, 600), argv, at: new Date().toISOString() });
      if (++this.#sincePrune >= PRUNE_EVERY) await this.prune();
    } catch (err) {
      this.#log.error({ err, action: e.action }, 'writing the audit log failed');
    }
  }

  async prune(): Promise<number> {
    this.#sincePrune = 0;
    const oldest = new Date(Date.now() - this.#retention.maxAgeDays * 86_400_000).toISOString();
    return this.#store.prune(this.#retention.maxEvents, oldest);
  }

  list(project: string, opts: { before?: number; limit: number }): Promise<AuditRecord[]> {
    return this.#store.list(project, opts);
  }
}
