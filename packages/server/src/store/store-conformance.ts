/**
 * @module store-conformance
 * The behaviour every Store implementation must show. SQLite runs it today; a Postgres store
 * would run the same suite.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { SandboxRecord, Store } from './store.js';

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
