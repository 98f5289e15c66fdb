/**
 * @module store-conformance
 * The behaviour every Store implementation must show. SQLite runs it today; a Postgres store would
 * run the same suite.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { DEFAULT_PROJECT, type ImageRecord, type SandboxRecord, type Store } from './store.js';

/** A small image record (no layers) of `repository`. */
export function imageRecord(id: string, repository: string): ImageRecord {
  return {
    id,
    project: DEFAULT_PROJECT,
    repository,
    configDigest: `sha256:${'f'.repeat(64)}`,
    config: { env: [], entrypoint: [], cmd: ['sh'], workingDir: '/', user: 'root', os: 'linux', architecture: 'amd64' },
    layers: [],
    size: 1,
    unpackedBytes: 2,
    createdAt: '2026-01-01T00:00:00.000Z',
    lastUsedAt: '2026-01-01T00:00:00.000Z',
  };
}

export function sandboxRecord(id: string, patch: Partial<SandboxRecord> = {}): SandboxRecord {
  return {
    id,
    project: DEFAULT_PROJECT,
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
    stopDetail: null,
    slot: 0,
    imageId: 'default',
    diskMiB: 1024,
    pool: null,
    releasePending: false,
    enforced: null,
    network: null,
    ...patch,
  };
}

export function storeConformance(name: string, open: () => { store: Store; reopen(): Store }): void {
  const record = sandboxRecord;
  const ids = async (p: Promise<SandboxRecord[]>) => (await p).map((r) => r.id);

  describe(`store conformance: ${name}`, { timeout: 60_000 }, () => {
    test('what is written survives a reopen', async () => {
      const { store, reopen } = open();
      await store.sandboxes.insert(record('sb-a', { enforced: { pids: 512, hostPids: 4096, memoryMiB: 256, memoryOverheadMiB: 64, cpu: 1 } }));
      await store.sandboxes.transition('sb-a', ['running'], 'stopped', { stopReason: 'oom', stopDetail: 'the memory limit' });
      await store.close();
      const again = reopen();
      const r = (await again.sandboxes.get('sb-a'))!;
      assert.deepEqual(
        {
          state: r.state,
          stopReason: r.stopReason,
          stopDetail: r.stopDetail,
          env: r.env,
          metadata: r.metadata,
          project: r.project,
          hostPids: r.enforced?.hostPids,
        },
        {
          state: 'stopped',
          stopReason: 'oom',
          stopDetail: 'the memory limit',
          env: { SECRET: 'x' },
          metadata: { team: 'ml' },
          project: 'default',
          hostPids: 4096,
        },
      );
      await again.close();
    });

    test('filters by project, state and by every label', async () => {
      const { store } = open();
      await store.sandboxes.insert(record('sb-1', { metadata: { team: 'ml', tier: 'gold' } }));
      await store.sandboxes.insert(record('sb-2', { metadata: { team: 'ml' }, slot: 1 }));
      await store.sandboxes.insert(record('sb-3', { state: 'destroyed', slot: 2 }));
      await store.sandboxes.insert(record('sb-4', { project: 'other', slot: 4 }));
      assert.deepEqual(await ids(store.sandboxes.list({ labels: { team: 'ml', tier: 'gold' } })), ['sb-1']);
      assert.deepEqual(await ids(store.sandboxes.list({ states: ['destroyed'] })), ['sb-3']);
      assert.deepEqual(await ids(store.sandboxes.list({ project: 'other' })), ['sb-4']);
      assert.deepEqual((await store.sandboxes.holding()).map((r) => r.slot).sort(), [0, 1, 4], 'destroyed sandboxes free their slot');
      await store.sandboxes.delete('sb-2');
      assert.equal(await store.sandboxes.get('sb-2'), undefined);
      await assert.rejects(store.sandboxes.update('sb-2', { stopReason: 'oom' }));
      await store.close();
    });

    test('a state change is conditional: of two writers, one wins', async () => {
      const { store } = open();
      await store.sandboxes.insert(record('sb-c'));
      const [a, b] = await Promise.all([
        store.sandboxes.transition('sb-c', ['running'], 'stopped', { stopReason: 'timeout' }),
        store.sandboxes.transition('sb-c', ['running'], 'stopped', { stopReason: 'exited' }),
      ]);
      assert.equal([a, b].filter((x) => x !== undefined).length, 1, 'exactly one transition applies');
      assert.equal(await store.sandboxes.transition('sb-c', ['running'], 'destroyed'), undefined, 'not from a state it is not in');
      const now = (await store.sandboxes.get('sb-c'))!;
      assert.deepEqual([now.state, now.stopReason], ['stopped', (a ?? b)!.stopReason]);
      assert.equal((await store.sandboxes.transition('sb-c', ['stopped'], 'destroyed'))?.state, 'destroyed');
      await store.close();
    });

    test('pooled sandboxes are hidden from listings and claimed exactly once', async () => {
      const { store } = open();
      await store.sandboxes.insert(record('sb-p1', { pool: 'runc|default', metadata: {}, env: {} }));
      await store.sandboxes.insert(record('sb-u1', { slot: 1 }));
      assert.deepEqual(await ids(store.sandboxes.list({})), ['sb-u1']);
      assert.deepEqual((await ids(store.sandboxes.list({ includePooled: true }))).sort(), ['sb-p1', 'sb-u1']);
      const [claimed, second] = await Promise.all([
        store.sandboxes.claimPooled('sb-p1', { project: 'default', env: { A: '1' }, metadata: { team: 'rl' } }),
        store.sandboxes.claimPooled('sb-p1', { project: 'default', env: {} }),
      ]);
      assert.deepEqual([claimed?.pool, claimed?.env, claimed?.metadata], [null, { A: '1' }, { team: 'rl' }]);
      assert.equal(second, undefined, 'a second claim gets nothing');
      assert.equal(await store.sandboxes.claimPooled('sb-u1', { project: 'default', env: {} }), undefined, 'a sandbox never pooled cannot be claimed');
      assert.deepEqual(await ids(store.sandboxes.list({ labels: { team: 'rl' } })), ['sb-p1']);
      await store.close();
    });

    test('a destroyed sandbox whose release is pending keeps its slot and image', async () => {
      const { store } = open();
      await store.sandboxes.insert(record('sb-r1', { state: 'destroyed', releasePending: true, slot: 3, imageId: 'img-x' }));
      assert.deepEqual(
        (await store.sandboxes.holding()).map((r) => r.slot),
        [3],
      );
      assert.deepEqual([...(await store.images.inUse())], ['img-x']);
      await store.sandboxes.update('sb-r1', { releasePending: false });
      assert.deepEqual(await store.sandboxes.holding(), []);
      assert.deepEqual([...(await store.images.inUse())], []);
      await store.close();
    });

    test('expiring sandboxes come earliest first, running ones only', async () => {
      const { store } = open();
      await store.sandboxes.insert(record('sb-late', { expiresAt: '2030-01-02T00:00:00.000Z' }));
      await store.sandboxes.insert(record('sb-early', { expiresAt: '2030-01-01T00:00:00.000Z', slot: 1 }));
      await store.sandboxes.insert(record('sb-never', { slot: 2 }));
      await store.sandboxes.insert(record('sb-stopped', { state: 'stopped', expiresAt: '2029-01-01T00:00:00.000Z', slot: 3 }));
      assert.deepEqual(
        (await store.sandboxes.expiring(10)).map((e) => e.id),
        ['sb-early', 'sb-late'],
      );
      assert.deepEqual(
        (await store.sandboxes.expiring(1)).map((e) => e.id),
        ['sb-early'],
      );
      await store.close();
    });

    test('images: references point at one image, survive a reopen, and go with it', async () => {
      const { store, reopen } = open();
      const image = (id: string): ImageRecord => ({
        id,
        project: DEFAULT_PROJECT,
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
      const py = 'docker.io/library/python:3.12';
      const own = { project: DEFAULT_PROJECT, reference: py };
      await store.images.put(image(a), own);
      await store.images.put(image(b), own);
      assert.equal((await store.images.byReference(DEFAULT_PROJECT, py))?.id, b, 'a tag moves to the newer image');
      assert.deepEqual(await store.images.referencesOf(a), []);
      await store.images.put(image(a), { project: DEFAULT_PROJECT, reference: `docker.io/library/python@${a}` });
      await store.sandboxes.insert(record('sb-img', { imageId: a }));
      await store.sandboxes.insert(record('sb-gone', { imageId: b, state: 'destroyed', slot: 1 }));
      assert.deepEqual([...(await store.images.inUse())], [a], 'destroyed sandboxes do not hold images');
      await store.close();
      const again = reopen();
      assert.deepEqual((await again.images.get(a))?.config.cmd, ['python3']);
      assert.equal((await again.images.list()).length, 2);
      await again.images.delete(b);
      assert.equal(await again.images.byReference(DEFAULT_PROJECT, py), undefined, 'references go with their image');
      assert.equal(await again.images.get(b), undefined);
      assert.equal(await again.grants.has(DEFAULT_PROJECT, b), false, 'and so do its grants');
      await again.close();
    });

    test("image references are per project: one project pointing a tag never moves another's", async () => {
      const { store } = open();
      const image = (id: string) => imageRecord(id, 'docker.io/library/myapp');
      const a = `sha256:${'a'.repeat(64)}`;
      const b = `sha256:${'b'.repeat(64)}`;
      const tag = 'docker.io/library/myapp:latest';
      await store.images.put(image(b), { project: 'beta', reference: tag });
      assert.equal((await store.images.byReference('beta', tag))?.id, b, "positive control: beta's tag names beta's image");
      assert.equal(await store.grants.has('beta', b), true, 'an owner is granted its image with its reference');
      await store.images.put(image(a), { project: 'alpha', reference: tag });
      assert.equal((await store.images.byReference('beta', tag))?.id, b, "alpha's tag did not move beta's");
      assert.equal((await store.images.byReference('alpha', tag))?.id, a);
      assert.equal(await store.images.byReference('gamma', tag), undefined, 'a project without the tag resolves nothing');
      assert.deepEqual(await store.images.referencesOf(b, 'alpha'), []);
      assert.deepEqual(await store.images.referencesOf(b, 'beta'), [tag]);
      // Both projects naming one image: each has its own reference; dropping one leaves the other.
      assert.equal(await store.images.tag('alpha', tag, b), true);
      assert.deepEqual(await store.images.referencesOf(b), [tag], "every project's references, each once");
      assert.equal(await store.grants.ungrant('beta', b), 1, 'alpha still holds it');
      assert.equal(await store.images.byReference('beta', tag), undefined, "beta's reference went with its grant");
      assert.equal((await store.images.byReference('alpha', tag))?.id, b, "alpha's stays");
      assert.equal(await store.images.tag('alpha', tag, `sha256:${'9'.repeat(64)}`), false, 'an image not in the store is not tagged');
      assert.equal((await store.images.byReference('alpha', tag))?.id, b);
      await store.sandboxes.insert(record('sb-a', { project: 'alpha', imageId: a }));
      assert.deepEqual([...(await store.images.inUse('alpha'))], [a]);
      assert.deepEqual([...(await store.images.inUse('beta'))], [], "inUse names the project's own sandboxes");
      await store.projects.delete('alpha', new Date().toISOString());
      assert.equal(await store.images.byReference('alpha', tag), undefined, "a deleted project's references go");
      await store.close();
    });

    test('api keys are found by hash only', async () => {
      const { store } = open();
      assert.equal(await store.keys.count(), 0);
      await store.keys.insert({
        id: 'k1',
        project: DEFAULT_PROJECT,
        hash: 'h1',
        name: 'admin',
        role: 'admin',
        createdAt: new Date().toISOString(),
        expiresAt: null,
        revokedAt: null,
      });
      assert.equal((await store.keys.findByHash('h1'))?.id, 'k1');
      assert.equal(await store.keys.findByHash('h2'), undefined);
      await store.close();
    });

    test('keys are listed per project and revoked once, kept for the audit trail', async () => {
      const { store } = open();
      const at = new Date().toISOString();
      await store.keys.insert({ id: 'ka', project: 'alpha', hash: 'ha', name: 'ci', role: 'read', createdAt: at, expiresAt: null, revokedAt: null });
      await store.keys.insert({ id: 'kb', project: 'beta', hash: 'hb', name: 'ci', role: 'project', createdAt: at, expiresAt: at, revokedAt: null });
      assert.deepEqual(
        (await store.keys.list('alpha')).map((k) => [k.id, k.role]),
        [['ka', 'read']],
      );
      assert.equal(await store.keys.revoke('ka', at), true);
      assert.equal(await store.keys.revoke('ka', at), false, 'already revoked');
      assert.equal((await store.keys.get('ka'))?.revokedAt, at);
      assert.equal((await store.keys.get('kb'))?.expiresAt, at);
      await store.close();
    });

    test('projects: default exists; delete revokes their keys and drops their image references', async () => {
      const { store } = open();
      assert.ok(await store.projects.get(DEFAULT_PROJECT), 'default is there from the migration');
      const at = new Date().toISOString();
      await store.projects.insert({ name: 'alpha', createdAt: at, overrides: { sandboxes: 2, cpu: null } });
      assert.deepEqual((await store.projects.get('alpha'))?.overrides, { sandboxes: 2, cpu: null });
      await store.projects.setOverrides('alpha', { sandboxes: 3 });
      assert.deepEqual((await store.projects.get('alpha'))?.overrides, { sandboxes: 3 });
      await store.images.put(imageRecord('sha256:' + 'c'.repeat(64), 'docker.io/library/alpine'), {
        project: DEFAULT_PROJECT,
        reference: 'docker.io/library/alpine:3',
      });
      await store.grants.grant('alpha', 'sha256:' + 'c'.repeat(64));
      await store.grants.grant('alpha', 'default'); // not in the store: a no-op
      assert.equal(await store.grants.has('alpha', 'sha256:' + 'c'.repeat(64)), true);
      assert.equal(await store.grants.has('beta', 'sha256:' + 'c'.repeat(64)), false);
      await store.keys.insert({ id: 'ka', project: 'alpha', hash: 'ha', name: 'ci', role: 'project', createdAt: at, expiresAt: null, revokedAt: null });
      await store.projects.delete('alpha', at);
      assert.equal(await store.projects.get('alpha'), undefined);
      assert.equal((await store.keys.get('ka'))?.revokedAt, at);
      assert.equal((await store.grants.imagesOf('alpha')).size, 0);
      await store.close();
    });

    test('the audit log is per project, newest first, bounded by retention', async () => {
      const { store } = open();
      for (let i = 0; i < 5; i++)
        await store.audit.append({
          at: new Date(Date.now() - (5 - i) * 1000).toISOString(),
          keyId: 'k',
          project: i % 2 ? 'alpha' : 'beta',
          action: 'POST /v1/sandboxes',
          target: null,
          status: 201,
          result: 'ok',
          argv: i === 1 ? ['echo', 'hi'] : null,
        });
      const alpha = await store.audit.list('alpha', { limit: 10 });
      assert.deepEqual(
        alpha.map((e) => e.argv),
        [null, ['echo', 'hi']],
      );
      assert.ok(alpha[0]!.seq > alpha[1]!.seq);
      assert.equal((await store.audit.list('alpha', { before: alpha[0]!.seq, limit: 10 })).length, 1);
      await store.audit.prune(1, new Date(0).toISOString());
      assert.deepEqual(
        [(await store.audit.list('alpha', { limit: 10 })).length, (await store.audit.list('beta', { limit: 10 })).length],
        [1, 1],
        'at most maxEvents per project',
      );
      assert.equal((await store.audit.list('alpha', { limit: 10 }))[0]!.seq, alpha[0]!.seq, 'the newest stay');
      await store.audit.prune(10, new Date().toISOString());
      assert.equal((await store.audit.list('beta', { limit: 10 })).length, 0, 'none older than the age limit');
      await store.close();
    });
  });
}
