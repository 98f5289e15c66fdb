/**
 * @module sqlite/keys
 * API keys: only their hashes are stored, with role, expiry and revocation.
 */
import { z } from 'zod';
import { StoreCorruptError, type ApiKeyRecord, type KeyStore } from '../store.js';
import type { SqliteDatabase } from './database.js';

const Row = z.object({
  id: z.string(),
  project: z.string(),
  hash: z.string(),
  name: z.string(),
  role: z.enum(['admin', 'project', 'read']),
  created_at: z.string(),
  expires_at: z.string().nullable(),
  revoked_at: z.string().nullable(),
});

const COLUMNS = 'id, project, hash, name, role, created_at, expires_at, revoked_at';

export class SqliteKeyStore implements KeyStore {
  readonly #d: SqliteDatabase;

  constructor(db: SqliteDatabase) {
    this.#d = db;
  }

  async insert(r: ApiKeyRecord): Promise<void> {
    this.#d
      .stmt(`INSERT INTO api_keys (${COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`)
      .run(r.id, r.project, r.hash, r.name, r.role, r.createdAt, r.expiresAt, r.revokedAt);
  }

  async findByHash(hash: string): Promise<ApiKeyRecord | undefined> {
    return fromRow(this.#d.stmt(`SELECT ${COLUMNS} FROM api_keys WHERE hash = ?`).get(hash));
  }

  async get(id: string): Promise<ApiKeyRecord | undefined> {
    return fromRow(this.#d.stmt(`SELECT ${COLUMNS} FROM api_keys WHERE id = ?`).get(id));
  }

  async list(project: string): Promise<ApiKeyRecord[]> {
    return this.#d
      .stmt(`SELECT ${COLUMNS} FROM api_keys WHERE project = ? ORDER BY created_at, id`)
      .all(project)
      .map((r) => fromRow(r)!);
  }

  async revoke(id: string, at: string): Promise<boolean> {
    return this.#d.stmt('UPDATE api_keys SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL').run(at, id).changes === 1;
  }

  async count(): Promise<number> {
    return (this.#d.stmt('SELECT count(*) AS n FROM api_keys').get() as { n: number }).n;
  }
}

function fromRow(raw: unknown): ApiKeyRecord | undefined {
  if (raw === undefined) return undefined;
  const parsed = Row.safeParse(raw);
  if (!parsed.success) throw new StoreCorruptError('an api_keys row is invalid');
  const row = parsed.data;
  return {
    id: row.id,
    project: row.project,
    hash: row.hash,
    name: row.name,
    role: row.role,
    createdAt: row.created_at,
    expiresAt: row.expires_at,
    revokedAt: row.revoked_at,
  };
}
