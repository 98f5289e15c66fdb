/**
 * @module sqlite-store
 * The embedded Store: one SQLite file (better-sqlite3, synchronous underneath, so every write is
 * durable when its promise resolves), behind the asynchronous Store interface.
 */
import { SqliteDatabase } from './sqlite/database.js';
import { SqliteImageStore } from './sqlite/images.js';
import { SqliteKeyStore } from './sqlite/keys.js';
import { SqliteSandboxStore } from './sqlite/sandboxes.js';
import type { Store } from './store.js';

export class SqliteStore implements Store {
  readonly #db: SqliteDatabase;
  readonly sandboxes: SqliteSandboxStore;
  readonly images: SqliteImageStore;
  readonly keys: SqliteKeyStore;

  constructor(path: string) {
    this.#db = new SqliteDatabase(path);
    this.sandboxes = new SqliteSandboxStore(this.#db);
    this.images = new SqliteImageStore(this.#db);
    this.keys = new SqliteKeyStore(this.#db);
  }

  async close(): Promise<void> {
    this.#db.close();
  }
}
