/**
 * @module sqlite-store
 * The embedded Store: one SQLite file in WAL mode (better-sqlite3, synchronous, so every write is
 * durable when the call returns). Schema changes are ordered migrations recorded in user_version.
 */
import Database from 'better-sqlite3';
import type { ApiKeyRecord, SandboxFilter, SandboxRecord, Store } from './store.js';

const MIGRATIONS: string[] = [
  `CREATE TABLE sandboxes (
     id TEXT PRIMARY KEY,
     state TEXT NOT NULL,
     runtime TEXT NOT NULL,
     image TEXT NOT NULL,
     cpu REAL NOT NULL,
     memory_mib INTEGER NOT NULL,
     pids INTEGER NOT NULL,
     timeout INTEGER,
     env TEXT NOT NULL,
     metadata TEXT NOT NULL,
     created_at TEXT NOT NULL,
     started_at TEXT,
     stopped_at TEXT,
     expires_at TEXT,
     stop_reason TEXT,
     slot INTEGER NOT NULL
   );
   CREATE INDEX sandboxes_state ON sandboxes(state);
   CREATE TABLE api_keys (id TEXT PRIMARY KEY, hash TEXT NOT NULL UNIQUE, name TEXT NOT NULL, created_at TEXT NOT NULL);`,
];

interface Row {
  id: string;
  state: string;
  runtime: string;
  image: string;
  cpu: number;
  memory_mib: number;
  pids: number;
  timeout: number | null;
  env: string;
  metadata: string;
  created_at: string;
  started_at: string | null;
  stopped_at: string | null;
  expires_at: string | null;
  stop_reason: string | null;
  slot: number;
}

const COLUMNS: Record<keyof Omit<SandboxRecord, 'id'>, keyof Row> = {
  state: 'state',
  runtime: 'runtime',
  image: 'image',
  cpu: 'cpu',
  memoryMiB: 'memory_mib',
  pids: 'pids',
  timeout: 'timeout',
  env: 'env',
  metadata: 'metadata',
  createdAt: 'created_at',
  startedAt: 'started_at',
  stoppedAt: 'stopped_at',
  expiresAt: 'expires_at',
  stopReason: 'stop_reason',
  slot: 'slot',
};

export class SqliteStore implements Store {
  readonly #db: Database.Database;

  constructor(path: string) {
    this.#db = new Database(path);
    this.#db.pragma('journal_mode = WAL');
    this.#db.pragma('synchronous = NORMAL');
    this.#db.pragma('busy_timeout = 5000');
    this.#migrate();
  }

  #migrate(): void {
    const version = this.#db.pragma('user_version', { simple: true }) as number;
    for (let v = version; v < MIGRATIONS.length; v++) {
      this.#db.transaction(() => {
        this.#db.exec(MIGRATIONS[v]!);
        this.#db.pragma(`user_version = ${v + 1}`);
      })();
    }
  }

  insertSandbox(r: SandboxRecord): void {
    this.#db
      .prepare(
        `INSERT INTO sandboxes (id, state, runtime, image, cpu, memory_mib, pids, timeout, env, metadata, created_at,
           started_at, stopped_at, expires_at, stop_reason, slot)
         VALUES (@id, @state, @runtime, @image, @cpu, @memory_mib, @pids, @timeout, @env, @metadata, @created_at,
           @started_at, @stopped_at, @expires_at, @stop_reason, @slot)`,
      )
      .run(toRow(r));
  }

  updateSandbox(id: string, patch: Partial<Omit<SandboxRecord, 'id'>>): SandboxRecord {
    const row = toRow({ ...this.#mustGet(id), ...patch });
    const keys = Object.keys(patch) as (keyof typeof COLUMNS)[];
    if (keys.length > 0) {
      const sets = keys.map((k) => `${COLUMNS[k]} = @${COLUMNS[k]}`).join(', ');
      this.#db.prepare(`UPDATE sandboxes SET ${sets} WHERE id = @id`).run(row);
    }
    return fromRow(row);
  }

  getSandbox(id: string): SandboxRecord | undefined {
    const row = this.#db.prepare('SELECT * FROM sandboxes WHERE id = ?').get(id) as Row | undefined;
    return row && fromRow(row);
  }

  deleteSandbox(id: string): void {
    this.#db.prepare('DELETE FROM sandboxes WHERE id = ?').run(id);
  }

  listSandboxes(filter: SandboxFilter = {}): SandboxRecord[] {
    const where: string[] = [];
    const params: unknown[] = [];
    if (filter.states && filter.states.length > 0) {
      where.push(`state IN (${filter.states.map(() => '?').join(', ')})`);
      params.push(...filter.states);
    }
    for (const [k, v] of Object.entries(filter.labels ?? {})) {
      where.push(`json_extract(metadata, ?) = ?`);
      params.push(`$."${k}"`, v);
    }
    const sql = `SELECT * FROM sandboxes ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY created_at, id`;
    return (this.#db.prepare(sql).all(...params) as Row[]).map(fromRow);
  }

  usedSlots(): Set<number> {
    const rows = this.#db.prepare(`SELECT slot FROM sandboxes WHERE state != 'destroyed'`).all() as { slot: number }[];
    return new Set(rows.map((r) => r.slot));
  }

  insertApiKey(r: ApiKeyRecord): void {
    this.#db.prepare('INSERT INTO api_keys (id, hash, name, created_at) VALUES (?, ?, ?, ?)').run(r.id, r.hash, r.name, r.createdAt);
  }

  findApiKeyByHash(hash: string): ApiKeyRecord | undefined {
    const row = this.#db.prepare('SELECT id, hash, name, created_at FROM api_keys WHERE hash = ?').get(hash) as
      | { id: string; hash: string; name: string; created_at: string }
      | undefined;
    return row && { id: row.id, hash: row.hash, name: row.name, createdAt: row.created_at };
  }

  countApiKeys(): number {
    return (this.#db.prepare('SELECT count(*) AS n FROM api_keys').get() as { n: number }).n;
  }

  close(): void {
    this.#db.close();
  }

  #mustGet(id: string): SandboxRecord {
    const r = this.getSandbox(id);
    if (!r) throw new Error(`store: no sandbox ${id}`);
    return r;
  }
}

function toRow(r: SandboxRecord): Row {
  return {
    id: r.id,
    state: r.state,
    runtime: r.runtime,
    image: r.image,
    cpu: r.cpu,
    memory_mib: r.memoryMiB,
    pids: r.pids,
    timeout: r.timeout,
    env: JSON.stringify(r.env),
    metadata: JSON.stringify(r.metadata),
    created_at: r.createdAt,
    started_at: r.startedAt,
    stopped_at: r.stoppedAt,
    expires_at: r.expiresAt,
    stop_reason: r.stopReason,
    slot: r.slot,
  };
}

function fromRow(row: Row): SandboxRecord {
  return {
    id: row.id,
    state: row.state as SandboxRecord['state'],
    runtime: row.runtime as SandboxRecord['runtime'],
    image: row.image,
    cpu: row.cpu,
    memoryMiB: row.memory_mib,
    pids: row.pids,
    timeout: row.timeout,
    env: JSON.parse(row.env) as Record<string, string>,
    metadata: JSON.parse(row.metadata) as Record<string, string>,
    createdAt: row.created_at,
    startedAt: row.started_at,
    stoppedAt: row.stopped_at,
    expiresAt: row.expires_at,
    stopReason: row.stop_reason as SandboxRecord['stopReason'],
    slot: row.slot,
  };
}
