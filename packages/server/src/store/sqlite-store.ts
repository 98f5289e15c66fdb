/**
 * @module sqlite-store
 * The embedded Store: one SQLite file (better-sqlite3, synchronous underneath, so every write is
 * durable when its promise resolves), behind the asynchronous Store interface.
 */
import { SqliteDatabase } from './sqlite/database.js';
import { SqliteImageStore } from './sqlite/images.js';
import { SqliteAuditStore } from './sqlite/audit.js';
import { SqliteKeyStore } from './sqlite/keys.js';
import { SqliteImageGrants, SqliteProjectStore } from './sqlite/projects.js';
import { SqliteSandboxStore } from './sqlite/sandboxes.js';
import type { Store } from './store.js';

export class SqliteStore implements Store {
  readonly #db: SqliteDatabase;
  readonly sandboxes: SqliteSandboxStore;
  readonly images: SqliteImageStore;
  readonly keys: SqliteKeyStore;
  readonly projects: SqliteProjectStore;
  readonly grants: SqliteImageGrants;
  readonly audit: SqliteAuditStore;

  /** `envKey`: 32 bytes that seal sandbox env values at rest (sqlite/sandboxes.ts); absent: plain. */
  constructor(path: string, envKey?: Buffer) {
    this.#db = new SqliteDatabase(path);
    this.sandboxes = new SqliteSandboxStore(this.#db, envKey);
    this.projects = new SqliteProjectStore(this.#db);
    this.grants = new SqliteImageGrants(this.#db);
    this.audit = new SqliteAuditStore(this.#db);
    this.images = new SqliteImageStore(this.#db);
    this.keys = new SqliteKeyStore(this.#db);
  }

  async close(): Promise<void> {
    this.#db.close();
  }
}
