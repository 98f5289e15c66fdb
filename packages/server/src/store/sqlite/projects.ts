/**
 * @module sqlite/projects
 * Projects, and which images each references (one content store, references per project).
 */
import { z } from 'zod';
import { StoreCorruptError, type ImageGrants, type ProjectRecord, type ProjectStore } from '../store.js';
import type { SqliteDatabase } from './database.js';

const Row = z.object({ name: z.string(), created_at: z.string(), overrides: z.string() });
const Overrides = z.record(z.string(), z.number().nullable());

export class SqliteProjectStore implements ProjectStore {
  readonly #d: SqliteDatabase;

  constructor(db: SqliteDatabase) {
    this.#d = db;
  }

  async insert(r: ProjectRecord): Promise<void> {
    this.#d.stmt('INSERT INTO projects (name, created_at, overrides) VALUES (?, ?, ?)').run(r.name, r.createdAt, JSON.stringify(r.overrides));
  }

  async get(name: string): Promise<ProjectRecord | undefined> {
    const raw = this.#d.stmt('SELECT name, created_at, overrides FROM projects WHERE name = ?').get(name);
    return raw === undefined ? undefined : fromRow(raw);
  }

  async list(): Promise<ProjectRecord[]> {
    return this.#d.stmt('SELECT name, created_at, overrides FROM projects ORDER BY created_at, name').all().map(fromRow);
  }

  async setOverrides(name: string, overrides: ProjectRecord['overrides']): Promise<void> {
    this.#d.stmt('UPDATE projects SET overrides = ? WHERE name = ?').run(JSON.stringify(overrides), name);
  }

  async delete(name: string, at: string): Promise<void> {
    this.#d.db.transaction(() => {
      this.#d.stmt('UPDATE api_keys SET revoked_at = ? WHERE project = ? AND revoked_at IS NULL').run(at, name);
      this.#d.stmt('DELETE FROM image_grants WHERE project = ?').run(name);
      this.#d.stmt('DELETE FROM image_references WHERE project = ?').run(name);
      this.#d.stmt('DELETE FROM projects WHERE name = ?').run(name);
    })();
  }
}

export class SqliteImageGrants implements ImageGrants {
  readonly #d: SqliteDatabase;

  constructor(db: SqliteDatabase) {
    this.#d = db;
  }

  async grant(project: string, imageId: string): Promise<void> {
    // Only images in the store: a built-in image (not recorded) needs no reference.
    this.#d.stmt('INSERT OR IGNORE INTO image_grants (project, image_id) SELECT ?, id FROM images WHERE id = ?').run(project, imageId);
  }

  async ungrant(project: string, imageId: string): Promise<number> {
    return this.#d.db.transaction(() => {
      this.#d.stmt('DELETE FROM image_grants WHERE project = ? AND image_id = ?').run(project, imageId);
      this.#d.stmt('DELETE FROM image_references WHERE project = ? AND image_id = ?').run(project, imageId);
      return (this.#d.stmt('SELECT count(*) AS n FROM image_grants WHERE image_id = ?').get(imageId) as { n: number }).n;
    })();
  }

  async has(project: string, imageId: string): Promise<boolean> {
    return this.#d.stmt('SELECT 1 FROM image_grants WHERE project = ? AND image_id = ?').get(project, imageId) !== undefined;
  }

  async imagesOf(project: string): Promise<Set<string>> {
    return new Set((this.#d.stmt('SELECT image_id FROM image_grants WHERE project = ?').all(project) as { image_id: string }[]).map((r) => r.image_id));
  }
}

function fromRow(raw: unknown): ProjectRecord {
  const parsed = Row.safeParse(raw);
  if (!parsed.success) throw new StoreCorruptError('a projects row is invalid');
  let overrides: ProjectRecord['overrides'];
  try {
    overrides = Overrides.parse(JSON.parse(parsed.data.overrides));
  } catch {
    throw new StoreCorruptError(`project ${parsed.data.name} has invalid quota overrides`);
  }
  return { name: parsed.data.name, createdAt: parsed.data.created_at, overrides };
}
