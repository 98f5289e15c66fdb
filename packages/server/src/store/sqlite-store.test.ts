import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import Database from 'better-sqlite3';
import { SqliteStore } from './sqlite-store.js';
import { StoreCorruptError } from './store.js';
import { sandboxRecord, storeConformance } from './store-conformance.js';

const dirs: string[] = [];
after(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});
const dbPath = () => {
  const dir = mkdtempSync(join(tmpdir(), 'airlock-store-'));
  dirs.push(dir);
  return join(dir, 'airlock.db');
};

storeConformance('sqlite', () => {
  const path = dbPath();
  return { store: new SqliteStore(path), reopen: () => new SqliteStore(path) };
});

describe('sqlite store specifics', { timeout: 30_000 }, () => {
  test('data from before projects migrates into the default project', async () => {
    const path = dbPath();
    // The schema as the previous release left it (user_version 3), with one sandbox and one key.
    const old = new Database(path);
    old.exec(`CREATE TABLE sandboxes (id TEXT PRIMARY KEY, state TEXT NOT NULL, runtime TEXT NOT NULL, image TEXT NOT NULL, cpu REAL NOT NULL,
      memory_mib INTEGER NOT NULL, pids INTEGER NOT NULL, timeout INTEGER, env TEXT NOT NULL, metadata TEXT NOT NULL, created_at TEXT NOT NULL,
      started_at TEXT, stopped_at TEXT, expires_at TEXT, stop_reason TEXT, slot INTEGER NOT NULL, image_id TEXT NOT NULL DEFAULT 'default',
      disk_mib INTEGER NOT NULL DEFAULT 0, pool TEXT, release_pending INTEGER NOT NULL DEFAULT 0);
      CREATE INDEX sandboxes_state ON sandboxes(state);
      CREATE TABLE api_keys (id TEXT PRIMARY KEY, hash TEXT NOT NULL UNIQUE, name TEXT NOT NULL, created_at TEXT NOT NULL);
      CREATE TABLE images (id TEXT PRIMARY KEY, repository TEXT NOT NULL, config_digest TEXT NOT NULL, config TEXT NOT NULL, layers TEXT NOT NULL,
      size INTEGER NOT NULL, unpacked_bytes INTEGER NOT NULL, created_at TEXT NOT NULL, last_used_at TEXT NOT NULL);
      CREATE TABLE image_references (reference TEXT PRIMARY KEY, image_id TEXT NOT NULL REFERENCES images(id) ON DELETE CASCADE);
      INSERT INTO sandboxes VALUES ('sb-old', 'running', 'runc', 'default', 1, 256, 512, NULL, '{}', '{}', '2026-01-01T00:00:00.000Z',
        NULL, NULL, NULL, NULL, 0, 'default', 1024, NULL, 0);
      INSERT INTO api_keys VALUES ('k-old', 'hash-old', 'admin', '2026-01-01T00:00:00.000Z');
      PRAGMA user_version = 3;`);
    old.close();
    const store = new SqliteStore(path);
    assert.equal((await store.sandboxes.get('sb-old'))?.project, 'default');
    assert.equal((await store.keys.findByHash('hash-old'))?.project, 'default');
    await store.close();
  });

  test('a damaged row is reported as corrupt, not cast', async () => {
    const path = dbPath();
    const store = new SqliteStore(path);
    await store.sandboxes.insert(sandboxRecord('sb-x'));
    await store.close();
    const raw = new Database(path);
    raw.prepare(`UPDATE sandboxes SET state = 'exploded', env = 'not json' WHERE id = 'sb-x'`).run();
    raw.close();
    const again = new SqliteStore(path);
    await assert.rejects(again.sandboxes.get('sb-x'), StoreCorruptError);
    await again.close();
  });
});
