import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { ApiKeyRecord, KeyStore } from '../store/store.js';
import { hashKey, mintKey } from './api-keys.js';
import { Principals } from './principals.js';

/** Keys in memory, as the store would hold them. */
function memoryKeys(records: ApiKeyRecord[]): KeyStore {
  return {
    insert: async (r) => void records.push(r),
    findByHash: async (h) => records.find((r) => r.hash === h),
    get: async (id) => records.find((r) => r.id === id),
    list: async (p) => records.filter((r) => r.project === p),
    revoke: async (id, at) => {
      const r = records.find((x) => x.id === id && x.revokedAt === null);
      if (r) r.revokedAt = at;
      return r !== undefined;
    },
    count: async () => records.length,
  };
}

describe('principals', { timeout: 10_000 }, () => {
  test('a key is ak_<id>_<secret>, stored as its hash; wrong, revoked and expired keys are refused', async () => {
    const { key, record } = mintKey('alpha', 'read', 'k', null);
    assert.match(key, /^ak_[a-z0-9]{16}_[A-Za-z0-9_-]{43}$/);
    assert.equal(key.includes(record.id), true);
    assert.equal(record.hash, hashKey(key));
    assert.equal(JSON.stringify(record).includes(key.slice(20)), false, 'no secret in the record');
    const past = mintKey('alpha', 'project', 'old', new Date(Date.now() - 1000).toISOString());
    const records = [record, past.record];
    const p = new Principals(memoryKeys(records));
    const me = await p.authenticate(key);
    assert.deepEqual([me?.keyId, me?.project, me?.role, me?.signal.aborted], [record.id, 'alpha', 'read', false]);
    assert.equal(await p.authenticate(`${key}x`), undefined);
    assert.equal(await p.authenticate('x'.repeat(10_000)), undefined);
    assert.equal(await p.authenticate(past.key), undefined, 'expired');
    record.revokedAt = new Date().toISOString();
    p.revoked(record.id);
    assert.equal(me?.signal.aborted, true, 'revocation fires the signal of what is open');
    assert.equal(await p.authenticate(key), undefined, 'and the key is refused from then on');
  });

  test('an expiring key fires its signal at its expiry', async () => {
    const { key, record } = mintKey('alpha', 'project', 'short', new Date(Date.now() + 150).toISOString());
    const p = new Principals(memoryKeys([record]));
    const me = await p.authenticate(key);
    assert.equal(me?.signal.aborted, false);
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(me?.signal.aborted, true);
    p.close();
  });
});
