import assert from 'node:assert/strict';
import { test } from 'node:test';
import { loadConfig } from '../config.js';
import { Admission } from './admission.js';

const size = { cpu: 1, memoryMiB: 64 };

test('a slot is freed only by its owner: a late second release cannot hand one uid range to two sandboxes', { timeout: 10_000 }, () => {
  const admission = new Admission(loadConfig({ dataDir: '/tmp/airlock-admission-unit' }, {}));
  const first = admission.reserve(size, 'sb-first');
  admission.release(first.slot, 'sb-first');
  const second = admission.reserve(size, 'sb-second');
  assert.equal(second.slot, first.slot, 'the freed slot is reused');
  // The first sandbox's create path releases again (a destroy already freed it): a no-op now.
  admission.release(first.slot, 'sb-first');
  const third = admission.reserve(size, 'sb-third');
  assert.notEqual(third.slot, second.slot, 'the slot still held by sb-second is not handed out');
  assert.notEqual(third.hostIds.base, second.hostIds.base);
  // Positive control: the owner's release does free it.
  admission.release(second.slot, 'sb-second');
  assert.equal(admission.reserve(size, 'sb-fourth').slot, second.slot);
});
