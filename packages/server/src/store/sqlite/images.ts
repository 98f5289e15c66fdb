/**
 * @module sqlite/images
 * Image records and the references (tags) that point at them, validated when read.
 */
import { ImageConfigSchema } from '@airlock/protocol';
import { z } from 'zod';
import { StoreCorruptError, type ImageRecord, type ImageStore } from '../store.js';
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

  async put(r: ImageRecord, reference: string | undefined): Promise<void> {
    this.#d.db.transaction(() => {
      this.#d
        .stmt(
          `INSERT INTO images (id, project, repository, config_digest, config, layers, size, unpacked_bytes, created_at, last_used_at)
           VALUES (@id, @project, @repository, @config_digest, @config, @layers, @size, @unpacked_bytes, @created_at, @last_used_at)
           ON CONFLICT(id) DO UPDATE SET last_used_at = excluded.last_used_at`,
        )
        .run(toRow(r));
      if (reference !== undefined) {
        this.#d
          .stmt('INSERT INTO image_references (reference, image_id) VALUES (?, ?) ON CONFLICT(reference) DO UPDATE SET image_id = excluded.image_id')
          .run(reference, r.id);
      }
    })();
  }

  async get(id: string): Promise<ImageRecord | undefined> {
    const row = this.#d.stmt('SELECT * FROM images WHERE id = ?').get(id);
    return row === undefined ? undefined : fromRow(row);
  }

  async byReference(reference: string): Promise<ImageRecord | undefined> {
    const row = this.#d.stmt('SELECT images.* FROM image_references JOIN images ON images.id = image_references.image_id WHERE reference = ?').get(reference);
    return row === undefined ? undefined : fromRow(row);
  }

  async referencesOf(id: string): Promise<string[]> {
    return (this.#d.stmt('SELECT reference FROM image_references WHERE image_id = ? ORDER BY reference').all(id) as { reference: string }[]).map(
      (r) => r.reference,
    );
  }

  async list(): Promise<ImageRecord[]> {
    return this.#d.stmt('SELECT * FROM images ORDER BY created_at, id').all().map(fromRow);
  }

  async delete(id: string): Promise<void> {
    this.#d.db.transaction(() => {
      this.#d.stmt('DELETE FROM image_references WHERE image_id = ?').run(id);
      this.#d.stmt('DELETE FROM images WHERE id = ?').run(id);
    })();
  }

  async touch(id: string, at: string): Promise<void> {
    this.#d.stmt('UPDATE images SET last_used_at = ? WHERE id = ?').run(at, id);
  }

  async inUse(): Promise<Set<string>> {
    const rows = this.#d.stmt(`SELECT DISTINCT image_id FROM sandboxes WHERE ${HOLDING}`).all() as { image_id: string }[];
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
