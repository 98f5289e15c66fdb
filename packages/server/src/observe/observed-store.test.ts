/**
 * The store wrapper tells each state change once, with the event type its stop reason calls for,
 * hides warm-pool sandboxes until they are handed out (then in the project that took them), and tells a policy change only when the
 * policy changed. On the real SQLite store; no runtime needed.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import { NetworkSettings } from '@airlock/protocol';
import { newDataDir } from '@airlock/testkit/harness.js';
import { sandboxRecord } from '../store/store-conformance.js';
import { SqliteStore } from '../store/sqlite-store.js';
import type { EventInput } from './event-log.js';
import { observedSandboxStore } from './observed-store.js';

test('state changes become events, once each, with reasons', { timeout: 30_000 }, async () => {
  const store = new SqliteStore(join(newDataDir('observed-store'), 'a.db'));
  const events: EventInput[] = [];
  const stopped: string[] = [];
  const s = observedSandboxStore(store.sandboxes, { event: (e) => events.push(e), stopped: (r) => stopped.push(`${r.id}:${r.stopReason}`) });
  try {
    const network = { index: 1, portsToken: 't', settings: NetworkSettings.parse({ egress: 'none' }) };
    await s.insert(sandboxRecord('sb-a', { state: 'creating', network }));
    await s.transition('sb-a', ['creating'], 'running');
    assert.equal(await s.transition('sb-a', ['creating'], 'running'), undefined, 'a lost compare-and-set');
    await s.update('sb-a', { network });
    await s.update('sb-a', { network: { ...network, settings: NetworkSettings.parse({ egress: 'all' }) } });
    await s.transition('sb-a', ['running'], 'stopped', { stopReason: 'agent_protocol', stopDetail: 'a frame on a closed channel' });
    await s.transition('sb-a', ['stopped'], 'destroyed');
    assert.deepEqual(
      events.map((e) => e.type),
      ['sandbox.created', 'sandbox.started', 'sandbox.policy_changed', 'sandbox.agent_protocol_violation', 'sandbox.destroyed'],
      'one event per change; an update that changes nothing is not a policy change',
    );
    assert.equal(events[3]!.data.detail, 'a frame on a closed channel');
    assert.deepEqual(stopped, ['sb-a:agent_protocol']);

    for (const [id, reason, type] of [
      ['sb-o', 'oom', 'sandbox.oom'],
      ['sb-t', 'timeout', 'sandbox.timeout'],
      ['sb-d', 'destroyed', 'sandbox.stopped'],
    ] as const) {
      await s.insert(sandboxRecord(id, { state: 'running' }));
      events.length = 0;
      await s.transition(id, ['running'], 'stopped', { stopReason: reason });
      assert.deepEqual([events[0]?.type, events[0]?.data.reason], [type, reason]);
    }

    events.length = 0;
    await s.insert(sandboxRecord('sb-p', { state: 'running', pool: 'runc default 1 512 2048' }));
    assert.equal(events.length, 0, "a pooled sandbox is nobody's yet");
    await s.claimPooled('sb-p', { project: 'team', metadata: { who: 'claimed' } });
    assert.deepEqual(
      events.map((e) => [e.type, e.project, e.data.reason]),
      [
        ['sandbox.created', 'team', 'warm_pool'],
        ['sandbox.started', 'team', 'warm_pool'],
      ],
    );
  } finally {
    await store.close();
  }
});
