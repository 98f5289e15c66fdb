import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { Principal } from '../auth/principals.js';
import { Tickets } from './tickets.js';

describe('WebSocket attach tickets', { timeout: 10_000 }, () => {
  const principal = (): Principal & { revoke(): void } => {
    const c = new AbortController();
    return { keyId: 'k1', project: 'alpha', role: 'project', signal: c.signal, revoke: () => c.abort() };
  };

  test('single use, bound to one process, short-lived', async () => {
    const t = new Tickets(50);
    const p = principal();
    const a = t.issue('sb-1', 'proc-1', p);
    assert.equal(t.redeem(a.ticket, 'sb-1', 'proc-2'), undefined, 'another process');
    const b = t.issue('sb-1', 'proc-1', p);
    assert.equal(t.redeem(b.ticket, 'sb-1', 'proc-1')?.project, 'alpha', 'positive control: carries the issuing project');
    assert.equal(t.redeem(b.ticket, 'sb-1', 'proc-1'), undefined, 'used already');
    const c = t.issue('sb-1', 'proc-1', p);
    await new Promise((r) => setTimeout(r, 80));
    assert.equal(t.redeem(c.ticket, 'sb-1', 'proc-1'), undefined, 'expired');
    assert.equal(t.redeem('made-up', 'sb-1', 'proc-1'), undefined);
  });

  test("a ticket dies with its key's revocation", () => {
    const t = new Tickets(10_000);
    const p = principal();
    const a = t.issue('sb-1', 'proc-1', p);
    p.revoke();
    assert.equal(t.redeem(a.ticket, 'sb-1', 'proc-1'), undefined);
  });
});
