/**
 * @module sqlite-store
 * The embedded Store: one SQLite file in WAL mode (better-sqlite3, synchronous, so every write is
 * durable when the call returns). Schema changes are ordered migrations recorded in user_version.
 */
import Database from 'better-sqlite3';
import type { ApiKeyRecord, ImageRecord, SandboxFilter, SandboxRecord, Store } from './store.js';

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
  `CREATE TABLE images (
     id TEXT PRIMARY KEY,
     repository TEXT NOT NULL,
     config_digest TEXT NOT NULL,
     config TEXT NOT NULL,
     layers TEXT NOT NULL,
     size INTEGER NOT NULL,
     unpacked_bytes INTEGER NOT NULL,
     created_at TEXT NOT NULL,
     last_used_at TEXT NOT NULL
   );
   CREATE TABLE image_references (reference TEXT PRIMARY KEY, image_id TEXT NOT NULL REFERENCES images(id) ON DELETE CASCADE);
   CREATE INDEX image_references_image ON image_references(image_id);
   ALTER TABLE sandboxes ADD COLUMN image_id TEXT NOT NULL DEFAULT 'default';
   ALTER TABLE sandboxes ADD COLUMN disk_mib INTEGER NOT NULL DEFAULT 0;
   CREATE INDEX sandboxes_image ON sandboxes(image_id);`,
  `ALTER TABLE sandboxes ADD COLUMN pool TEXT;
   ALTER TABLE sandboxes ADD COLUMN release_pending INTEGER NOT NULL DEFAULT 0;`,
];

interface ImageRow {
  id: string;
  repository: string;
  config_digest: string;
  config: string;
  layers: string;
  size: number;
  unpacked_bytes: number;
  created_at: string;
  last_used_at: string;
}

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
  image_id: string;
  disk_mib: number;
  pool: string | null;
  release_pending: number;
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
  imageId: 'image_id',
  diskMiB: 'disk_mib',
  pool: 'pool',
  releasePending: 'release_pending',
};

export class SqliteStore implements Store {
  readonly #db: Database.Database;
  /** Prepared statements by SQL text: preparing costs ~0.1 ms, paid once per statement, not per call (exec looks a sandbox up twice). */
  readonly #statements = new Map<string, Database.Statement>();

  constructor(path: string) {
    this.#db = new Database(path);
    this.#db.pragma('journal_mode = WAL');
    this.#db.pragma('synchronous = NORMAL');
    this.#db.pragma('busy_timeout = 5000');
    this.#db.pragma('foreign_keys = ON');
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
           started_at, stopped_at, expires_at, stop_reason, slot, image_id, disk_mib, pool, release_pending)
         VALUES (@id, @state, @runtime, @image, @cpu, @memory_mib, @pids, @timeout, @env, @metadata, @created_at,
           @started_at, @stopped_at, @expires_at, @stop_reason, @slot, @image_id, @disk_mib, @pool, @release_pending)`,
      )
      .run(toRow(r));
  }

  claimPooled(id: string, patch: Partial<Omit<SandboxRecord, 'id' | 'pool'>>): SandboxRecord | undefined {
    const current = this.getSandbox(id);
    if (!current) return undefined;
    const row = toRow({ ...current, ...patch, pool: null });
    const keys = [...(Object.keys(patch) as (keyof typeof COLUMNS)[]), 'pool' as const];
    const sets = keys.map((k) => `${COLUMNS[k]} = @${COLUMNS[k]}`).join(', ');
    const r = this.#stmt(`UPDATE sandboxes SET ${sets} WHERE id = @id AND pool IS NOT NULL AND state = 'running'`).run(row);
    return r.changes === 1 ? fromRow(row) : undefined;
  }

  updateSandbox(id: string, patch: Partial<Omit<SandboxRecord, 'id'>>): SandboxRecord {
    const row = toRow({ ...this.#mustGet(id), ...patch });
    const keys = Object.keys(patch) as (keyof typeof COLUMNS)[];
    if (keys.length > 0) {
      const sets = keys.map((k) => `${COLUMNS[k]} = @${COLUMNS[k]}`).join(', ');
      this.#stmt(`UPDATE sandboxes SET ${sets} WHERE id = @id`).run(row);
    }
    return fromRow(row);
  }

  getSandbox(id: string): SandboxRecord | undefined {
    const row = this.#stmt('SELECT * FROM sandboxes WHERE id = ?').get(id) as Row | undefined;
    return row && fromRow(row);
  }

  deleteSandbox(id: string): void {
    this.#stmt('DELETE FROM sandboxes WHERE id = ?').run(id);
  }

  listSandboxes(filter: SandboxFilter = {}): SandboxRecord[] {
    const where: string[] = [];
    const params: unknown[] = [];
    if (filter.states && filter.states.length > 0) {
      where.push(`state IN (${filter.states.map(() => '?').join(', ')})`);
      params.push(...filter.states);
    }
    if (!filter.includePooled) where.push('pool IS NULL');
    if (filter.releasePending !== undefined) where.push(`release_pending = ${filter.releasePending ? 1 : 0}`);
    for (const [k, v] of Object.entries(filter.labels ?? {})) {
      where.push(`json_extract(metadata, ?) = ?`);
      params.push(`$."${k}"`, v);
    }
    const sql = `SELECT * FROM sandboxes ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY created_at, id`;
    return (this.#stmt(sql).all(...params) as Row[]).map(fromRow);
  }

  usedSlots(): Set<number> {
    const rows = this.#stmt(`SELECT slot FROM sandboxes WHERE state != 'destroyed' OR release_pending = 1`).all() as { slot: number }[];
    return new Set(rows.map((r) => r.slot));
  }

  putImage(r: ImageRecord, reference: string | undefined): void {
    this.#db.transaction(() => {
      this.#db
        .prepare(
          `INSERT INTO images (id, repository, config_digest, config, layers, size, unpacked_bytes, created_at, last_used_at)
           VALUES (@id, @repository, @config_digest, @config, @layers, @size, @unpacked_bytes, @created_at, @last_used_at)
           ON CONFLICT(id) DO UPDATE SET last_used_at = excluded.last_used_at`,
        )
        .run(imageToRow(r));
      if (reference !== undefined) {
        this.#db
          .prepare('INSERT INTO image_references (reference, image_id) VALUES (?, ?) ON CONFLICT(reference) DO UPDATE SET image_id = excluded.image_id')
          .run(reference, r.id);
      }
    })();
  }

  getImage(id: string): ImageRecord | undefined {
    const row = this.#stmt('SELECT * FROM images WHERE id = ?').get(id) as ImageRow | undefined;
    return row && imageFromRow(row);
  }

  imageByReference(reference: string): ImageRecord | undefined {
    const row = this.#db
      .prepare('SELECT images.* FROM image_references JOIN images ON images.id = image_references.image_id WHERE reference = ?')
      .get(reference) as ImageRow | undefined;
    return row && imageFromRow(row);
  }

  referencesOf(id: string): string[] {
    return (this.#stmt('SELECT reference FROM image_references WHERE image_id = ? ORDER BY reference').all(id) as { reference: string }[]).map(
      (r) => r.reference,
    );
  }

  listImages(): ImageRecord[] {
    return (this.#stmt('SELECT * FROM images ORDER BY created_at, id').all() as ImageRow[]).map(imageFromRow);
  }

  deleteImage(id: string): void {
    this.#db.transaction(() => {
      this.#stmt('DELETE FROM image_references WHERE image_id = ?').run(id);
      this.#stmt('DELETE FROM images WHERE id = ?').run(id);
    })();
  }

  touchImage(id: string, at: string): void {
    this.#stmt('UPDATE images SET last_used_at = ? WHERE id = ?').run(at, id);
  }

  imagesInUse(): Set<string> {
    const rows = this.#stmt(`SELECT DISTINCT image_id FROM sandboxes WHERE state != 'destroyed' OR release_pending = 1`).all() as { image_id: string }[];
    return new Set(rows.map((r) => r.image_id));
  }

  insertApiKey(r: ApiKeyRecord): void {
    this.#stmt('INSERT INTO api_keys (id, hash, name, created_at) VALUES (?, ?, ?, ?)').run(r.id, r.hash, r.name, r.createdAt);
  }

  findApiKeyByHash(hash: string): ApiKeyRecord | undefined {
    const row = this.#stmt('SELECT id, hash, name, created_at FROM api_keys WHERE hash = ?').get(hash) as
      | { id: string; hash: string; name: string; created_at: string }
      | undefined;
    return row && { id: row.id, hash: row.hash, name: row.name, createdAt: row.created_at };
  }

  countApiKeys(): number {
    return (this.#stmt('SELECT count(*) AS n FROM api_keys').get() as { n: number }).n;
  }

  close(): void {
    this.#db.close();
  }

  #stmt(sql: string): Database.Statement {
    let st = this.#statements.get(sql);
    if (!st) {
      st = this.#db.prepare(sql);
      this.#statements.set(sql, st);
    }
    return st;
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
    image_id: r.imageId,
    disk_mib: r.diskMiB,
    pool: r.pool,
    release_pending: r.releasePending ? 1 : 0,
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
    imageId: row.image_id,
    diskMiB: row.disk_mib,
    pool: row.pool,
    releasePending: row.release_pending === 1,
  };
}

function imageToRow(r: ImageRecord): ImageRow {
  return {
    id: r.id,
    repository: r.repository,
    config_digest: r.configDigest,
    config: JSON.stringify(r.config),
    layers: JSON.stringify(r.layers),
    size: r.size,
    unpacked_bytes: r.unpackedBytes,
    created_at: r.createdAt,
    last_used_at: r.lastUsedAt,
  };
}

function imageFromRow(row: ImageRow): ImageRecord {
  return {
    id: row.id,
    repository: row.repository,
    configDigest: row.config_digest,
    config: JSON.parse(row.config) as ImageRecord['config'],
    layers: JSON.parse(row.layers) as ImageRecord['layers'],
    size: row.size,
    unpackedBytes: row.unpacked_bytes,
    createdAt: row.created_at,
    lastUsedAt: row.last_used_at,
  };
}
