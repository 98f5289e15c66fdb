/**
 * @module sqlite/keys
 * API keys: only their hashes are stored.
 */
import { z } from 'zod';
import { StoreCorruptError, type ApiKeyRecord, type KeyStore } from '../store.js';
import type { SqliteDatabase } from './database.js';

const Row = z.object({ id: z.string(), project: z.string(), hash: z.string(), name: z.string(), created_at: z.string() });

export class SqliteKeyStore implements KeyStore {
  readonly #d: SqliteDatabase;

  constructor(db: SqliteDatabase) {
    this.#d = db;
  }

  async insert(r: ApiKeyRecord): Promise<void> {
    this.#d.stmt('INSERT INTO api_keys (id, project, hash, name, created_at) VALUES (?, ?, ?, ?, ?)').run(r.id, r.project, r.hash, r.name, r.createdAt);
  }

  async findByHash(hash: string): Promise<ApiKeyRecord | undefined> {
    const raw = this.#d.stmt('SELECT id, project, hash, name, created_at FROM api_keys WHERE hash = ?').get(hash);
    if (raw === undefined) return undefined;
    const parsed = Row.safeParse(raw);
    if (!parsed.success) throw new StoreCorruptError('an api_keys row is invalid');
    const row = parsed.data;
    return { id: row.id, project: row.project, hash: row.hash, name: row.name, createdAt: row.created_at };
  }

  async count(): Promise<number> {
    return (this.#d.stmt('SELECT count(*) AS n FROM api_keys').get() as { n: number }).n;
  }
}
