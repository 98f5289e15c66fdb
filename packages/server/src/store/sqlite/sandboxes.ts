/**
 * @module sqlite/sandboxes
 * Sandbox records in SQLite. Rows are validated when read (a damaged or foreign row is an error, not
 * a cast), and state changes are compare-and-set on the state column.
 */
import { NetworkSettings, RUNTIMES, SANDBOX_STATES, STOP_REASONS, type SandboxState } from '@airlock/protocol';
import { z } from 'zod';
import { StoreCorruptError, type SandboxFilter, type SandboxPatch, type SandboxRecord, type SandboxStore } from '../store.js';
import type { SqliteDatabase } from './database.js';
import { seal, unseal } from './sealed.js';

const json = <T extends z.ZodType>(schema: T) =>
  z.string().transform((s, ctx) => {
    try {
      const parsed = schema.safeParse(JSON.parse(s));
      if (parsed.success) return parsed.data as z.infer<T>;
      ctx.addIssue({ code: 'custom', message: parsed.error.issues[0]?.message ?? 'invalid' });
    } catch {
      ctx.addIssue({ code: 'custom', message: 'not JSON' });
    }
    return z.NEVER;
  });

const Enforced = z.object({
  pids: z.number().int().nullable(),
  hostPids: z.number().int(),
  memoryMiB: z.number(),
  memoryOverheadMiB: z.number(),
  cpu: z.number(),
});

const Row = z.object({
  id: z.string(),
  project: z.string(),
  state: z.enum(SANDBOX_STATES),
  runtime: z.enum(RUNTIMES),
  image: z.string(),
  cpu: z.number(),
  memory_mib: z.number().int(),
  pids: z.number().int(),
  timeout: z.number().int().nullable(),
  env: json(z.record(z.string(), z.string())),
  metadata: json(z.record(z.string(), z.string())),
  created_at: z.string(),
  started_at: z.string().nullable(),
  stopped_at: z.string().nullable(),
  expires_at: z.string().nullable(),
  stop_reason: z.enum(STOP_REASONS).nullable(),
  stop_detail: z.string().nullable(),
  slot: z.number().int(),
  image_id: z.string(),
  disk_mib: z.number().int(),
  pool: z.string().nullable(),
  release_pending: z.union([z.literal(0), z.literal(1)]),
  enforced: json(Enforced).nullable(),
  network: json(z.object({ index: z.number().int().min(0), settings: NetworkSettings, portsToken: z.string() })).nullable(),
});

/** Record field → column, for patches. */
const COLUMNS: Record<keyof Omit<SandboxRecord, 'id'>, string> = {
  project: 'project',
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
  stopDetail: 'stop_detail',
  slot: 'slot',
  imageId: 'image_id',
  diskMiB: 'disk_mib',
  pool: 'pool',
  releasePending: 'release_pending',
  enforced: 'enforced',
  network: 'network',
};

/** What holds host resources: a sandbox that may run, or whose release has not finished. */
export const HOLDING = `state IN ('creating', 'running', 'unknown') OR release_pending = 1`;

export class SqliteSandboxStore implements SandboxStore {
  readonly #d: SqliteDatabase;
  readonly #envKey: Buffer | undefined;

  constructor(db: SqliteDatabase, envKey?: Buffer) {
    this.#d = db;
    this.#envKey = envKey;
  }

  async insert(r: SandboxRecord): Promise<void> {
    const row = toRow(r, this.#envKey);
    const cols = Object.keys(row);
    this.#d.stmt(`INSERT INTO sandboxes (${cols.join(', ')}) VALUES (${cols.map((c) => `@${c}`).join(', ')})`).run(row);
  }

  async get(id: string): Promise<SandboxRecord | undefined> {
    const row = this.#d.stmt('SELECT * FROM sandboxes WHERE id = ?').get(id);
    return row === undefined ? undefined : fromRow(row, this.#envKey);
  }

  async list(filter: SandboxFilter = {}): Promise<SandboxRecord[]> {
    const where: string[] = [];
    const params: unknown[] = [];
    if (filter.project !== undefined) {
      where.push('project = ?');
      params.push(filter.project);
    }
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
    return this.#d
      .stmt(sql)
      .all(...params)
      .map((r) => fromRow(r, this.#envKey));
  }

  async update(id: string, patch: SandboxPatch): Promise<SandboxRecord> {
    const current = await this.get(id);
    if (!current) throw new Error(`store: no sandbox ${id}`);
    const next = { ...current, ...patch };
    this.#patch(id, patch, next, '');
    return next;
  }

  async transition(id: string, from: readonly SandboxState[], to: SandboxState, patch: SandboxPatch = {}): Promise<SandboxRecord | undefined> {
    const current = await this.get(id);
    if (!current || !from.includes(current.state)) return undefined;
    const next = { ...current, ...patch, state: to };
    const guard = ` AND state IN (${from.map((s) => `'${s}'`).join(', ')})`;
    return this.#patch(id, { ...patch, state: to }, next, guard) ? next : undefined;
  }

  async claimPooled(id: string, patch: SandboxPatch & { project: string }): Promise<SandboxRecord | undefined> {
    const current = await this.get(id);
    if (!current) return undefined;
    const next = { ...current, ...patch, pool: null };
    return this.#patch(id, { ...patch, pool: null }, next, ` AND pool IS NOT NULL AND state = 'running'`) ? next : undefined;
  }

  async delete(id: string): Promise<void> {
    this.#d.stmt('DELETE FROM sandboxes WHERE id = ?').run(id);
  }

  async holding(): Promise<SandboxRecord[]> {
    return this.#d
      .stmt(`SELECT * FROM sandboxes WHERE ${HOLDING} ORDER BY created_at, id`)
      .all()
      .map((r) => fromRow(r, this.#envKey));
  }

  async expiring(limit: number): Promise<{ id: string; expiresAt: string }[]> {
    const rows = this.#d
      .stmt(`SELECT id, expires_at FROM sandboxes WHERE state = 'running' AND expires_at IS NOT NULL ORDER BY expires_at LIMIT ?`)
      .all(limit) as { id: string; expires_at: string }[];
    return rows.map((r) => ({ id: r.id, expiresAt: r.expires_at }));
  }

  /** One UPDATE of the patched columns; `guard` adds conditions. True if the row changed. */
  #patch(id: string, patch: Partial<Omit<SandboxRecord, 'id'>>, next: SandboxRecord, guard: string): boolean {
    const keys = Object.keys(patch) as (keyof typeof COLUMNS)[];
    if (keys.length === 0) return guard === '' || this.#d.stmt(`SELECT 1 FROM sandboxes WHERE id = ?${guard}`).get(id) !== undefined;
    const row = toRow(next, this.#envKey);
    const sets = keys.map((k) => `${COLUMNS[k]} = @${COLUMNS[k]}`).join(', ');
    return this.#d.stmt(`UPDATE sandboxes SET ${sets} WHERE id = @id${guard}`).run(row).changes === 1;
  }
}

function toRow(r: SandboxRecord, envKey: Buffer | undefined): Record<string, unknown> {
  return {
    id: r.id,
    project: r.project,
    state: r.state,
    runtime: r.runtime,
    image: r.image,
    cpu: r.cpu,
    memory_mib: r.memoryMiB,
    pids: r.pids,
    timeout: r.timeout,
    env: seal(envKey, JSON.stringify(r.env)),
    metadata: JSON.stringify(r.metadata),
    created_at: r.createdAt,
    started_at: r.startedAt,
    stopped_at: r.stoppedAt,
    expires_at: r.expiresAt,
    stop_reason: r.stopReason,
    stop_detail: r.stopDetail,
    slot: r.slot,
    image_id: r.imageId,
    disk_mib: r.diskMiB,
    pool: r.pool,
    release_pending: r.releasePending ? 1 : 0,
    enforced: r.enforced === null ? null : JSON.stringify(r.enforced),
    network: r.network === null ? null : JSON.stringify(r.network),
  };
}

function fromRow(raw: unknown, envKey: Buffer | undefined): SandboxRecord {
  const env = (raw as { env?: unknown } | null)?.env;
  if (typeof env === 'string') {
    const opened = unseal(envKey, env);
    if (opened === undefined)
      throw new StoreCorruptError(`sandbox row ${(raw as { id?: unknown })?.id ?? '?'}: its env cannot be unsealed (wrong or missing key file)`);
    raw = { ...(raw as object), env: opened };
  }
  const parsed = Row.safeParse(raw);
  if (!parsed.success) {
    const i = parsed.error.issues[0]!;
    throw new StoreCorruptError(`sandbox row ${(raw as { id?: unknown })?.id ?? '?'} is invalid at ${i.path.join('.')}: ${i.message}`);
  }
  const row = parsed.data;
  return {
    id: row.id,
    project: row.project,
    state: row.state,
    runtime: row.runtime,
    image: row.image,
    cpu: row.cpu,
    memoryMiB: row.memory_mib,
    pids: row.pids,
    timeout: row.timeout,
    env: row.env,
    metadata: row.metadata,
    createdAt: row.created_at,
    startedAt: row.started_at,
    stoppedAt: row.stopped_at,
    expiresAt: row.expires_at,
    stopReason: row.stop_reason,
    stopDetail: row.stop_detail,
    slot: row.slot,
    imageId: row.image_id,
    diskMiB: row.disk_mib,
    pool: row.pool,
    releasePending: row.release_pending === 1,
    enforced: row.enforced,
    network: row.network,
  };
}
