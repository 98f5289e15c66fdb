/**
 * @module sqlite/audit
 * The audit log: rows are appended and, by retention only, removed from the old end.
 */
import { z } from 'zod';
import { StoreCorruptError, type AuditRecord, type AuditStore } from '../store.js';
import type { SqliteDatabase } from './database.js';

const Row = z.object({
  seq: z.number().int(),
  at: z.string(),
  key_id: z.string(),
  project: z.string(),
  action: z.string(),
  target: z.string().nullable(),
  status: z.number().int(),
  result: z.string(),
  argv: z.string().nullable(),
});

export class SqliteAuditStore implements AuditStore {
  readonly #d: SqliteDatabase;

  constructor(db: SqliteDatabase) {
    this.#d = db;
  }

  async append(e: Omit<AuditRecord, 'seq'>): Promise<void> {
    this.#d
      .stmt('INSERT INTO audit (at, key_id, project, action, target, status, result, argv) VALUES (?, ?, ?, ?, ?, ?, ?, ?)')
      .run(e.at, e.keyId, e.project, e.action, e.target, e.status, e.result, e.argv === null ? null : JSON.stringify(e.argv));
  }

  async list(project: string, opts: { before?: number; limit: number }): Promise<AuditRecord[]> {
    const rows = this.#d
      .stmt('SELECT * FROM audit WHERE project = ? AND seq < ? ORDER BY seq DESC LIMIT ?')
      .all(project, opts.before ?? Number.MAX_SAFE_INTEGER, opts.limit);
    return rows.map(fromRow);
  }

  async prune(maxEvents: number, olderThan: string): Promise<number> {
    return this.#d.db.transaction(() => {
      let n = this.#d.stmt('DELETE FROM audit WHERE at < ?').run(olderThan).changes;
      // Per project: a noisy project pushes out only its own old events.
      for (const { project } of this.#d.stmt('SELECT DISTINCT project FROM audit').all() as { project: string }[]) {
        n += this.#d
          .stmt('DELETE FROM audit WHERE project = ? AND seq <= (SELECT seq FROM audit WHERE project = ? ORDER BY seq DESC LIMIT 1 OFFSET ?)')
          .run(project, project, maxEvents).changes;
      }
      return n;
    })();
  }
}

function fromRow(raw: unknown): AuditRecord {
  const parsed = Row.safeParse(raw);
  if (!parsed.success) throw new StoreCorruptError('an audit row is invalid');
  const r = parsed.data;
  let argv: string[] | null = null;
  if (r.argv !== null) {
    const a = z.array(z.string()).safeParse(JSON.parse(r.argv));
    if (!a.success) throw new StoreCorruptError(`audit row ${r.seq} has an invalid argv`);
    argv = a.data;
  }
  return { seq: r.seq, at: r.at, keyId: r.key_id, project: r.project, action: r.action, target: r.target, status: r.status, result: r.result, argv };
}
