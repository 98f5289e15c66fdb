/**
 * Asynchronous destroy (runsc): destroy answers once the sandbox is stopped, the release of its host
 * resources finishes in the background, close waits for it, and a restart finishes a release that a
 * crash interrupted.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import Database from 'better-sqlite3';
import { checkCommand } from '../host/command.js';
import { eventually, newDataDir, startTestServer } from '@airlock/testkit/harness.js';
import { isClean, remainsOf } from '@airlock/testkit/host-probe.js';

test('gVisor: destroy answers stopped, and close waits until nothing of the sandbox is left', { timeout: 10 * 60_000 }, async () => {
  const dataDir = newDataDir('async-destroy');
  const t = await startTestServer(dataDir);
  const ids: string[] = [];
  try {
    for (let i = 0; i < 3; i++) {
      const sb = await t.api.create({ runtime: 'gvisor' });
      await t.api.exec(sb.id, { cmd: 'sleep 100 & echo started' });
      ids.push(sb.id);
    }
    assert.ok(!isClean(remainsOf(ids[0]!, dataDir)), 'positive control: a live sandbox is on the host');
    for (const id of ids) {
      const d = await t.api.call('DELETE', `/v1/sandboxes/${id}`);
      assert.deepEqual([d.status, d.body.state], [200, 'destroyed']);
      const r = await t.api.call('POST', `/v1/sandboxes/${id}/exec`, { cmd: ['true'] });
      assert.deepEqual([r.status, r.body.code], [409, 'invalid_state'], 'a destroyed sandbox is unreachable at once');
    }
  } finally {
    await t.close();
  }
  for (const id of ids) assert.deepEqual(remainsOf(id, dataDir), { cgroups: [], processes: [], mounts: [], paths: [] }, `${id} after close`);
  const db = new Database(join(dataDir, 'db', 'airlock.db'), { readonly: true });
  try {
    const pending = db.prepare('SELECT count(*) AS n FROM sandboxes WHERE release_pending = 1').get() as { n: number };
    assert.equal(pending.n, 0, 'the store knows every release finished');
  } finally {
    db.close();
  }
});

test('a release interrupted by a crash is finished by the next start', { timeout: 10 * 60_000 }, async () => {
  const dataDir = newDataDir('async-destroy-crash');
  const first = await startTestServer(dataDir);
  const sb = await first.api.create({ runtime: 'gvisor' });
  // Leave it running, as a server that dies leaves its sandboxes; then make the store say what it says
  // after a destroy answered and before the background release ran: destroyed, release pending.
  await first.server.close();
  await checkCommand(['runsc', '--root', join(dataDir, 'runtime', 'gvisor', 'state'), 'kill', sb.id, 'KILL']);
  const db = new Database(join(dataDir, 'db', 'airlock.db'));
  db.prepare(`UPDATE sandboxes SET state = 'destroyed', stop_reason = 'destroyed', stopped_at = ?, release_pending = 1 WHERE id = ?`).run(
    new Date().toISOString(),
    sb.id,
  );
  db.close();
  assert.ok(!isClean(remainsOf(sb.id, dataDir)), 'positive control: its host resources are still there');

  const second = await startTestServer(dataDir);
  try {
    assert.ok(isClean(remainsOf(sb.id, dataDir)), 'the restart released what the destroyed sandbox held');
    const got = await second.api.call('GET', `/v1/sandboxes/${sb.id}`);
    assert.deepEqual([got.body.state, got.body.stopReason], ['destroyed', 'destroyed']);
    // Its slot is free again: a new sandbox can take it.
    const next = await second.api.create({ runtime: 'runc' });
    await second.api.call('DELETE', `/v1/sandboxes/${next.id}`);
    await eventually('the runc sandbox to leave nothing', () => (isClean(remainsOf(next.id, dataDir)) ? true : undefined));
  } finally {
    await second.close();
  }
});
