import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { exitStatus } from './exit-code.js';

const base = { exitCode: null, signal: null, durationMs: 1 } as const;

describe('exitStatus', { timeout: 60_000 }, () => {
  it('passes an exit code through', () => {
    assert.deepEqual(exitStatus({ ...base, reason: 'exit', exitCode: 0 }), { code: 0 });
    assert.deepEqual(exitStatus({ ...base, reason: 'exit', exitCode: 42 }), { code: 42 });
  });

  it('maps signals to 128+N, timeout to 124 and oom to 137 with a note', () => {
    assert.equal(exitStatus({ ...base, reason: 'signal', signal: 15 }).code, 143);
    const timeout = exitStatus({ ...base, reason: 'timeout', signal: 9 });
    assert.equal(timeout.code, 124);
    assert.match(timeout.note ?? '', /timed out/);
    const oom = exitStatus({ ...base, reason: 'oom', signal: 9 });
    assert.equal(oom.code, 137);
    assert.match(oom.note ?? '', /memory/);
    assert.equal(exitStatus({ ...base, reason: 'sandbox_stopped' }).code, 125);
  });
});
