/**
 * @module sqlite/images
 * Image records and the references (tags) that point at them, validated when read. References are
 * keyed by (project, reference): each project has its own namespace of tags over one image store.
 */
import { ImageConfigSchema } from '@airlock/protocol';
import { z } from 'zod';
import { StoreCorruptError, type ImageOwner, type ImageRecord, type ImageStore } from '../store.js';
import type { SqliteDatabase } from './database.js';
import { HOLDING } from './sandboxes.js';

const Layers = z.array(z.object({ digest: z.string(), mediaType: z.string(), size: z.number(), diffId: z.string(), chainId: z.string() }));

const Row = z.object({
  id: z.string(),
  project: z.string(),
  repository: z.string(),
  config_digest: z.string(),
  config: z.string(),
  layers: z.string(),
  size: z.number(),
  unpacked_bytes: z.number(),
  created_at: z.string(),
  last_used_at: z.string(),
});

export class SqliteImageStore implements ImageStore {
  readonly #d: SqliteDatabase;

  constructor(db: SqliteDatabase) {
    this.#d = db;
  }

  async put(r: ImageRecord, owner?: ImageOwner): Promise<void> {
    this.#d.db.transaction(() => {
      this.#d
        .stmt(
          `INSERT INTO images (id, project, repository, config_digest, config, layers, size, unpacked_bytes, created_at, last_used_at)
           VALUES (@id, @project, @repository, @config_digest, @config, @layers, @size, @unpacked_bytes, @created_at, @last_used_at)
           ON CONFLICT(id) DO UPDATE SET last_used_at = excluded.last_used_at`,
        )
        .run(toRow(r));
      if (owner !== undefined) this.#tag(owner.project, owner.reference, r.id);
    })();
  }

  async get(id: string): Promise<ImageRecord | undefined> {
    const row = this.#d.stmt('SELECT * FROM images WHERE id = ?').get(id);
    return row === undefined ? undefined : fromRow(row);
  }

  async byReference(project: string, reference: string): Promise<ImageRecord | undefined> {
    const row = this.#d
      .stmt('SELECT images.* FROM image_references JOIN images ON images.id = image_references.image_id WHERE image_references.project = ? AND reference = ?')
      .get(project, reference);
    return row === undefined ? undefined : fromRow(row);
  }

  async tag(project: string, reference: string, imageId: string): Promise<boolean> {
    return this.#d.db.transaction(() => {
      if (this.#d.stmt('SELECT 1 FROM images WHERE id = ?').get(imageId) === undefined) return false;
      this.#tag(project, reference, imageId);
      return true;
    })();
  }

  /** Inside a transaction, the image present: the grant, and the project's reference if given. */
  #tag(project: string, reference: string | undefined, imageId: string): void {
    this.#d.stmt('INSERT OR IGNORE INTO image_grants (project, image_id) VALUES (?, ?)').run(project, imageId);
    if (reference === undefined) return;
    this.#d
      .stmt(
        `INSERT INTO image_references (project, reference, image_id) VALUES (?, ?, ?)
         ON CONFLICT(project, reference) DO UPDATE SET image_id = excluded.image_id`,
      )
      .run(project, reference, imageId);
  }

  async referencesOf(id: string, project?: string): Promise<string[]> {
    const rows = (
      project === undefined
        ? this.#d.stmt('SELECT DISTINCT reference FROM image_references WHERE image_id = ? ORDER BY reference').all(id)
        : this.#d.stmt('SELECT reference FROM image_references WHERE image_id = ? AND project = ? ORDER BY reference').all(id, project)
    ) as { reference: string }[];
    return rows.map((r) => r.reference);
  }

  async list(): Promise<ImageRecord[]> {
    return this.#d.stmt('SELECT * FROM images ORDER BY created_at, id').all().map(fromRow);
  }

  async delete(id: string): Promise<void> {
    this.#d.db.transaction(() => {
      this.#d.stmt('DELETE FROM image_references WHERE image_id = ?').run(id);
      this.#d.stmt('DELETE FROM image_grants WHERE image_id = ?').run(id);
      this.#d.stmt('DELETE FROM images WHERE id = ?').run(id);
    })();
  }

  async touch(id: string, at: string): Promise<void> {
    this.#d.stmt('UPDATE images SET last_used_at = ? WHERE id = ?').run(at, id);
  }

  async inUse(project?: string): Promise<Set<string>> {
    const rows = (
      project === undefined
        ? this.#d.stmt(`SELECT DISTINCT image_id FROM sandboxes WHERE ${HOLDING}`).all()
        : this.#d.stmt(`SELECT DISTINCT image_id FROM sandboxes WHERE project = ? AND (${HOLDING})`).all(project)
    ) as { image_id: string }[];
    return new Set(rows.map((r) => r.image_id));
  }
}

function toRow(r: ImageRecord): z.infer<typeof Row> {
  return {
    id: r.id,
    project: r.project,
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

function fromRow(raw: unknown): ImageRecord {
  try {
    const row = Row.parse(raw);
    return {
      id: row.id,
      project: row.project,
      repository: row.repository,
      configDigest: row.config_digest,
      config: ImageConfigSchema.parse(JSON.parse(row.config)),
      layers: Layers.parse(JSON.parse(row.layers)),
      size: row.size,
      unpackedBytes: row.unpacked_bytes,
      createdAt: row.created_at,
      lastUsedAt: row.last_used_at,
    };
  } catch (e) {
    throw new StoreCorruptError(`image row ${(raw as { id?: unknown })?.id ?? '?'} is invalid: ${(e as Error).message.slice(0, 300)}`);
  }
}
