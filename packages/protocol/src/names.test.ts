import assert from 'node:assert/strict';
import { test } from 'node:test';
import { QUOTA_NAMES } from './names.js';
import { Quotas } from './tenancy.js';

test('the zod-free list of quotas is the Quotas schema, in order', { timeout: 10_000 }, () => {
  assert.deepEqual([...QUOTA_NAMES], Object.keys(Quotas.shape));
});
