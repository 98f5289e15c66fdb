/**
 * The pull's install-then-tag step, as pure logic: an eviction between the install and the tag
 * installs once more, and a second eviction fails with storage_full instead of answering with an
 * image the project has no reference to.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ErrorCode } from '@airlock/protocol';
import { AirlockError } from '../errors.js';
import type { ImageRecord } from '../store/store.js';
import { installThenTag } from './pull.js';

const image = { id: 'sha256:aaaa' } as ImageRecord;
/** An install that counts its calls, and a tag that answers from a script (false: the image was evicted). */
function rig(tagAnswers: boolean[]) {
  const calls = { install: 0, tag: 0 };
  return {
    calls,
    install: async () => {
      calls.install++;
      return { image, reference: 'docker.io/library/python:3' };
    },
    tag: async () => tagAnswers[calls.tag++] ?? false,
  };
}

test('a tag that holds answers with the image after one install', async () => {
  const r = rig([true]);
  assert.equal(await installThenTag(r.install, r.tag, 'python:3'), image);
  assert.deepEqual(r.calls, { install: 1, tag: 1 });
});

test('one eviction before the tag installs once more', async () => {
  const r = rig([false, true]);
  assert.equal(await installThenTag(r.install, r.tag, 'python:3'), image);
  assert.deepEqual(r.calls, { install: 2, tag: 2 });
});

test('a second eviction fails with storage_full, naming the image and the budget', async () => {
  const r = rig([false, false]);
  await assert.rejects(
    installThenTag(r.install, r.tag, 'python:3'),
    (e: unknown) => e instanceof AirlockError && e.code === ErrorCode.StorageFull && /python:3/.test(e.message) && /budget/.test(e.message),
  );
  assert.deepEqual(r.calls, { install: 2, tag: 2 }, 'no third install');
});
