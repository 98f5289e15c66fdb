import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { Tickets } from './tickets.js';

describe('WebSocket attach tickets', { timeout: 10_000 }, () => {
  test('single use, bound to one process, short-lived', async () => {
    const t = new Tickets(50);
    const a = t.issue('sb-1', 'proc-1');
    assert.equal(t.redeem(a.ticket, 'sb-1', 'proc-2'), false, 'another process');
    const b = t.issue('sb-1', 'proc-1');
    assert.equal(t.redeem(b.ticket, 'sb-1', 'proc-1'), true, 'positive control');
    assert.equal(t.redeem(b.ticket, 'sb-1', 'proc-1'), false, 'used already');
    const c = t.issue('sb-1', 'proc-1');
    await new Promise((r) => setTimeout(r, 80));
    assert.equal(t.redeem(c.ticket, 'sb-1', 'proc-1'), false, 'expired');
    assert.equal(t.redeem('made-up', 'sb-1', 'proc-1'), false);
  });
});
