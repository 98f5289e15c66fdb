import assert from 'node:assert/strict';
import { test } from 'node:test';
import { SANDBOX_STATES } from '@airlock/protocol';
import { AirlockError, InvariantError } from '../errors.js';
import { assertTransition, canTransition, requireState } from './lifecycle.js';

test('destroyed is final and every state can reach it', { timeout: 60_000 }, () => {
  for (const s of SANDBOX_STATES) assert.equal(canTransition('destroyed', s), false);
  for (const s of SANDBOX_STATES.filter((x) => x !== 'destroyed')) {
    assert.ok(canTransition(s, 'destroyed') || canTransition(s, 'stopped'), `${s} can be torn down`);
  }
});

test('an impossible internal transition is a bug, a user request in the wrong state is a typed error', { timeout: 60_000 }, () => {
  assert.throws(() => assertTransition('sb-x', 'stopped', 'running'), InvariantError);
  assert.doesNotThrow(() => assertTransition('sb-x', 'running', 'stopped'));
  assert.throws(
    () => requireState('exec in', 'sb-x', 'stopped', 'running'),
    (e: unknown) => e instanceof AirlockError && e.code === 'invalid_state' && /cannot exec in sandbox sb-x: it is stopped/.test(e.message),
  );
});
