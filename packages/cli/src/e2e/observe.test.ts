/**
 * Observation from the user's side, against a real server and real runc sandboxes: the SDK's
 * sandbox.stats(), statsStream(), events.stream() and webhooks, and the CLI's `airlock stats` and
 * `airlock events`.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { Airlock, type Sandbox } from '@airlock/sdk';
import { TEST_KEY, recordSandbox, startTestServer, type TestServer } from '@airlock/testkit';
import { runCli } from './run-cli.js';

describe('stats and events from the SDK and the CLI', { timeout: 5 * 60_000 }, () => {
  let t: TestServer;
  let airlock: Airlock;
  let sandbox: Sandbox;
  let env: NodeJS.ProcessEnv;

  before(async () => {
    t = await startTestServer();
    airlock = new Airlock({ url: t.server.url, apiKey: TEST_KEY });
    env = { ...process.env, AIRLOCK_URL: t.server.url, AIRLOCK_API_KEY: TEST_KEY, HOME: '/nonexistent' };
    sandbox = await airlock.sandboxes.create({ runtime: 'runc' });
    recordSandbox(sandbox.id);
  });
  after(async () => {
    await t?.close();
  });

  test('sandbox.stats() and statsStream()', { timeout: 60_000 }, async () => {
    const s = await sandbox.stats();
    assert.equal(s.id, sandbox.id);
    assert.ok(s.memory.currentBytes > 0 && s.cpu.usageSeconds >= 0);
    const ctl = new AbortController();
    const got = [];
    for await (const x of sandbox.statsStream({ intervalSeconds: 0.25, signal: ctl.signal })) {
      got.push(x);
      if (got.length === 3) ctl.abort();
    }
    assert.equal(got.length, 3);
  });

  test('events.stream() sees an exec, from an id', { timeout: 60_000 }, async () => {
    const ctl = new AbortController();
    const seen: string[] = [];
    const reading = (async () => {
      for await (const e of airlock.events.stream({ after: '0', sandbox: sandbox.id, signal: ctl.signal })) {
        seen.push(e.type);
        if (e.type === 'sandbox.exec_ended') ctl.abort();
      }
    })();
    await sandbox.exec(['true']);
    await reading;
    assert.deepEqual(seen.slice(0, 2), ['sandbox.created', 'sandbox.started']);
    assert.ok(seen.includes('sandbox.exec_started'));
  });

  test('webhooks from the SDK: a bad URL is refused', { timeout: 30_000 }, async () => {
    await assert.rejects(airlock.webhooks.create({ url: 'gopher://x' }), /http\(s\)/);
    const w = await airlock.webhooks.create({ url: 'http://hooks.invalid/never' });
    assert.match(w.secret, /^whsec_/);
    assert.equal((await airlock.webhooks.list()).length, 1);
    await airlock.webhooks.delete(w.id);
    assert.equal((await airlock.webhooks.list()).length, 0);
  });

  test('airlock stats --no-stream and airlock events', { timeout: 60_000 }, async () => {
    const stats = await runCli(env, ['stats', '--no-stream']);
    assert.equal(stats.code, 0, stats.stderr);
    assert.match(stats.stdout, /^ID\s+RUNTIME\s+CPU %/);
    assert.ok(stats.stdout.includes(sandbox.id));
    const json = await runCli(env, ['stats', '--no-stream', '--json', sandbox.id]);
    assert.equal(JSON.parse(json.stdout)[0].id, sandbox.id);
    const events = await runCli(env, ['events', '--sandbox', sandbox.id]);
    assert.equal(events.code, 0, events.stderr);
    assert.match(events.stdout, /created\s+sb-/);
    assert.match(events.stdout, /exec_ended/);
    const bad = await runCli(env, ['events', '--type', 'nope']);
    assert.notEqual(bad.code, 0);
  });
});
