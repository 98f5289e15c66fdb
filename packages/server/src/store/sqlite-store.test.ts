import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import Database from 'better-sqlite3';
import { MIGRATIONS } from './sqlite/database.js';
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

const envKey = randomBytes(32);
storeConformance('sqlite', () => {
  const path = dbPath();
  return { store: new SqliteStore(path, envKey), reopen: () => new SqliteStore(path, envKey) };
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
    const key = await store.keys.findByHash('hash-old');
    assert.deepEqual([key?.project, key?.role, key?.revokedAt, key?.expiresAt], ['default', 'admin', null, null], 'the one key from before is the admin key');
    assert.deepEqual(
      (await store.projects.list()).map((p) => p.name),
      ['default'],
    );
    await store.close();
  });

  test('sandbox env values are sealed at rest: not in the file, read back with the key, refused without it', async () => {
    const path = dbPath();
    const store = new SqliteStore(path, envKey);
    await store.sandboxes.insert(sandboxRecord('sb-env', { env: { TOKEN: 'canary-7f3a9c-env' } }));
    await store.sandboxes.update('sb-env', { metadata: { a: 'b' } });
    await store.close();
    const bytes = Buffer.concat([
      readFileSync(path),
      ...['-wal'].map((x) => {
        try {
          return readFileSync(path + x);
        } catch {
          return Buffer.alloc(0);
        }
      }),
    ]);
    assert.equal(bytes.includes('canary-7f3a9c-env'), false, 'the value is not in the database file');
    const again = new SqliteStore(path, envKey);
    assert.deepEqual((await again.sandboxes.get('sb-env'))?.env, { TOKEN: 'canary-7f3a9c-env' }, 'positive control: it reads back');
    await again.close();
    const keyless = new SqliteStore(path);
    await assert.rejects(keyless.sandboxes.get('sb-env'), StoreCorruptError);
    await keyless.close();
    const plain = new SqliteStore(dbPath());
    await plain.sandboxes.insert(sandboxRecord('sb-plain', { env: { A: '1' } }));
    assert.deepEqual((await plain.sandboxes.get('sb-plain'))?.env, { A: '1' }, 'rows written unsealed (before sealing) still read');
    await plain.close();
  });

  test("a sandbox's network settings keep peers across a reopen; a row from before peers reads as none", async () => {
    const path = dbPath();
    const store = new SqliteStore(path, envKey);
    const settings = { egress: 'none', peers: 'project', bandwidthMbit: null, publicPorts: false } as const;
    await store.sandboxes.insert(sandboxRecord('sb-peers', { network: { index: 3, settings, portsToken: 't' } }));
    await store.sandboxes.insert(sandboxRecord('sb-older', { network: { index: 4, settings, portsToken: 't' } }));
    await store.close();
    const db = new Database(path);
    db.prepare('UPDATE sandboxes SET network = ? WHERE id = ?').run(
      JSON.stringify({ index: 4, settings: { egress: 'none', bandwidthMbit: null, publicPorts: false }, portsToken: 't' }),
      'sb-older',
    );
    db.close();
    const again = new SqliteStore(path, envKey);
    assert.equal((await again.sandboxes.get('sb-peers'))?.network?.settings.peers, 'project');
    assert.equal((await again.sandboxes.get('sb-older'))?.network?.settings.peers, 'none');
    await again.close();
  });

  test('global image references from before migrate to every project holding their image', async () => {
    const path = dbPath();
    // The schema as the release before per-project references left it (user_version 6).
    const old = new Database(path);
    for (const m of MIGRATIONS.slice(0, 6)) old.exec(m);
    const digest = (c: string) => `sha256:${c.repeat(64)}`;
    const img = old.prepare(
      `INSERT INTO images (id, project, repository, config_digest, config, layers, size, unpacked_bytes, created_at, last_used_at)
       VALUES (?, ?, 'docker.io/library/x', ?, '{"env":[],"entrypoint":[],"cmd":[],"workingDir":"/","user":"root","os":"linux","architecture":"amd64"}', '[]', 1, 1, '2026-01-01T00:00:00.000Z', '2026-01-01T00:00:00.000Z')`,
    );
    img.run(digest('a'), 'default', digest('f'));
    img.run(digest('b'), 'default', digest('f'));
    img.run(digest('c'), 'default', digest('f'));
    old.exec(`DELETE FROM image_grants;
      INSERT INTO image_grants VALUES ('alpha', '${digest('a')}'), ('beta', '${digest('a')}'), ('beta', '${digest('b')}');
      INSERT INTO image_references VALUES ('docker.io/library/shared:1', '${digest('a')}'), ('docker.io/library/beta:1', '${digest('b')}'),
        ('docker.io/library/orphan:1', '${digest('c')}');
      PRAGMA user_version = 6;`);
    old.close();
    const store = new SqliteStore(path);
    const ref = async (project: string, r: string) => (await store.images.byReference(project, `docker.io/library/${r}`))?.id;
    assert.equal(await ref('alpha', 'shared:1'), digest('a'), 'a shared image: its reference lands in every project holding it');
    assert.equal(await ref('beta', 'shared:1'), digest('a'));
    assert.equal(await ref('beta', 'beta:1'), digest('b'), "positive control: beta's own reference is beta's");
    assert.equal(await ref('alpha', 'beta:1'), undefined, 'alpha does not get a reference to an image it does not hold');
    assert.equal(await ref('default', 'shared:1'), undefined);
    assert.equal(await ref('default', 'orphan:1'), digest('c'), "an image nobody held: its reference goes to the image's recorded project");
    assert.equal(await store.grants.has('default', digest('c')), true, 'which is granted it');
    assert.deepEqual(await store.images.referencesOf(digest('a'), 'alpha'), ['docker.io/library/shared:1']);
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
