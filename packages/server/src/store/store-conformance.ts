/**
 * @module store-conformance
 * The behaviour every Store implementation must show. SQLite runs it today; a Postgres store
 * would run the same suite.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { ImageRecord, SandboxRecord, Store } from './store.js';

export function storeConformance(name: string, open: () => { store: Store; reopen(): Store }): void {
  const record = (id: string, patch: Partial<SandboxRecord> = {}): SandboxRecord => ({
    id,
    state: 'running',
    runtime: 'runc',
    image: 'default',
    cpu: 1,
    memoryMiB: 256,
    pids: 512,
    timeout: null,
    env: { SECRET: 'x' },
    metadata: { team: 'ml' },
    createdAt: new Date().toISOString(),
    startedAt: null,
    stoppedAt: null,
    expiresAt: null,
    stopReason: null,
    slot: 0,
    imageId: 'default',
    diskMiB: 1024,
    pool: null,
    releasePending: false,
    ...patch,
  });

  describe(`store conformance: ${name}`, () => {
    test('what is written survives a reopen', () => {
      const { store, reopen } = open();
      store.insertSandbox(record('sb-a'));
      store.updateSandbox('sb-a', { state: 'stopped', stopReason: 'oom' });
      store.close();
      const again = reopen();
      assert.deepEqual(
        (({ state, stopReason, env, metadata }) => ({ state, stopReason, env, metadata }))(again.getSandbox('sb-a')!),
        { state: 'stopped', stopReason: 'oom', env: { SECRET: 'x' }, metadata: { team: 'ml' } },
      );
      again.close();
    });

    test('filters by state and by every label', () => {
      const { store } = open();
      store.insertSandbox(record('sb-1', { metadata: { team: 'ml', tier: 'gold' } }));
      store.insertSandbox(record('sb-2', { metadata: { team: 'ml' }, slot: 1 }));
      store.insertSandbox(record('sb-3', { state: 'destroyed', slot: 2 }));
      assert.deepEqual(
        store.listSandboxes({ labels: { team: 'ml', tier: 'gold' } }).map((r) => r.id),
        ['sb-1'],
      );
      assert.deepEqual(
        store.listSandboxes({ states: ['destroyed'] }).map((r) => r.id),
        ['sb-3'],
      );
      assert.deepEqual([...store.usedSlots()].sort(), [0, 1], 'destroyed sandboxes free their slot');
      store.deleteSandbox('sb-2');
      assert.equal(store.getSandbox('sb-2'), undefined);
      assert.throws(() => store.updateSandbox('sb-2', { state: 'stopped' }));
      store.close();
    });

    test('pooled sandboxes are hidden from listings and claimed exactly once', () => {
      const { store } = open();
      store.insertSandbox(record('sb-p1', { pool: 'runc|default', metadata: {}, env: {} }));
      store.insertSandbox(record('sb-u1', { slot: 1 }));
      assert.deepEqual(store.listSandboxes({}).map((r) => r.id), ['sb-u1']);
      assert.deepEqual(store.listSandboxes({ includePooled: true }).map((r) => r.id).sort(), ['sb-p1', 'sb-u1']);
      const claimed = store.claimPooled('sb-p1', { env: { A: '1' }, metadata: { team: 'rl' } });
      assert.deepEqual([claimed?.pool, claimed?.env, claimed?.metadata], [null, { A: '1' }, { team: 'rl' }]);
      assert.equal(store.claimPooled('sb-p1', { env: {} }), undefined, 'a second claim gets nothing');
      assert.equal(store.claimPooled('sb-u1', { env: {} }), undefined, 'a sandbox never pooled cannot be claimed');
      assert.deepEqual(store.listSandboxes({ labels: { team: 'rl' } }).map((r) => r.id), ['sb-p1']);
      store.close();
    });

    test('a destroyed sandbox whose release is pending keeps its slot and image', () => {
      const { store } = open();
      store.insertSandbox(record('sb-r1', { state: 'destroyed', releasePending: true, slot: 3, imageId: 'img-x' }));
      assert.deepEqual([...store.usedSlots()], [3]);
      assert.deepEqual([...store.imagesInUse()], ['img-x']);
      store.updateSandbox('sb-r1', { releasePending: false });
      assert.deepEqual([...store.usedSlots()], []);
      assert.deepEqual([...store.imagesInUse()], []);
      store.close();
    });

    test('images: references point at one image, survive a reopen, and go with it', () => {
      const { store, reopen } = open();
      const image = (id: string): ImageRecord => ({
        id,
        repository: 'docker.io/library/python',
        configDigest: `sha256:${'c'.repeat(64)}`,
        config: { env: ['A=1'], entrypoint: [], cmd: ['python3'], workingDir: '/', user: 'root', os: 'linux', architecture: 'amd64' },
        layers: [{ digest: `sha256:${'d'.repeat(64)}`, mediaType: 'x', size: 10, diffId: `sha256:${'e'.repeat(64)}`, chainId: `sha256:${'e'.repeat(64)}` }],
        size: 10,
        unpackedBytes: 20,
        createdAt: '2026-01-01T00:00:00.000Z',
        lastUsedAt: '2026-01-01T00:00:00.000Z',
      });
      const a = `sha256:${'a'.repeat(64)}`;
      const b = `sha256:${'b'.repeat(64)}`;
      store.putImage(image(a), 'docker.io/library/python:3.12');
      store.putImage(image(b), 'docker.io/library/python:3.12');
      assert.equal(store.imageByReference('docker.io/library/python:3.12')?.id, b, 'a tag moves to the newer image');
      assert.deepEqual(store.referencesOf(a), []);
      store.putImage(image(a), `docker.io/library/python@${a}`);
      store.insertSandbox(record('sb-img', { imageId: a }));
      store.insertSandbox(record('sb-gone', { imageId: b, state: 'destroyed' }));
      assert.deepEqual([...store.imagesInUse()], [a], 'destroyed sandboxes do not hold images');
      store.close();
      const again = reopen();
      assert.deepEqual(again.getImage(a)?.config.cmd, ['python3']);
      assert.equal(again.listImages().length, 2);
      again.deleteImage(b);
      assert.equal(again.imageByReference('docker.io/library/python:3.12'), undefined, 'references go with their image');
      assert.equal(again.getImage(b), undefined);
      again.close();
    });

    test('api keys are found by hash only', () => {
      const { store } = open();
      assert.equal(store.countApiKeys(), 0);
      store.insertApiKey({ id: 'k1', hash: 'h1', name: 'admin', createdAt: new Date().toISOString() });
      assert.equal(store.findApiKeyByHash('h1')?.id, 'k1');
      assert.equal(store.findApiKeyByHash('h2'), undefined);
      store.close();
    });
  });
}
