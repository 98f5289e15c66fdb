/**
 * Prometheus metrics after real sandbox work (runc): the exposition parses strictly, the series move
 * as the work says they must, no series carries a sandbox id, /metrics needs a key, and the admin
 * listener serves the same series without one.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Api, TEST_KEY, startTestServer } from '@airlock/testkit/harness.js';
import { parseExposition } from '@airlock/testkit/prom-text.js';

async function scrape(url: string, key: string | null = TEST_KEY) {
  const res = await fetch(url, { headers: key ? { authorization: `Bearer ${key}` } : {} });
  const text = await res.text();
  return { status: res.status, type: res.headers.get('content-type') ?? '', text, m: res.status === 200 ? parseExposition(text) : undefined };
}

test('metrics move with real sandbox work and name no sandbox', { timeout: 5 * 60_000 }, async () => {
  const t = await startTestServer(undefined, { observe: { metricsListen: { host: '127.0.0.1', port: 0 } } });
  try {
    const unauth = await scrape(`${t.server.url}/metrics`, null);
    assert.equal(unauth.status, 401, '/metrics needs a key on the API listener');
    const wrong = await scrape(`${t.server.url}/metrics`, 'not-a-key');
    assert.equal(wrong.status, 401);

    const before = (await scrape(`${t.server.url}/metrics`)).m!;
    assert.equal(before.value('airlock_sandboxes', { state: 'running', runtime: 'runc' }), 0);
    assert.equal(before.types.get('nodejs_eventloop_lag_seconds'), 'gauge', 'event-loop lag is exported');

    const sb = await t.api.create({ runtime: 'runc' });
    for (let i = 0; i < 3; i++) assert.equal((await t.api.exec(sb.id, { cmd: ['true'] })).exitCode, 0);
    const r = await t.api.exec(sb.id, { cmd: ['sh', '-c', 'exit 3'] });
    assert.equal(r.exitCode, 3);
    const mid = await scrape(`${t.server.url}/metrics`);
    assert.match(mid.type, /^text\/plain; version=0\.0\.4/);
    const m = mid.m!;
    assert.equal(m.value('airlock_sandboxes', { state: 'running', runtime: 'runc', project: 'default' }), 1);
    assert.equal(m.value('airlock_sandbox_create_duration_seconds_count', { runtime: 'runc', source: 'cold', outcome: 'ok' }), 1);
    assert.equal(m.value('airlock_execs_started_total', { runtime: 'runc', project: 'default' }), 4);
    // The exec's end is told when its process ends, which the response may overtake by a turn.
    for (let i = 0; i < 50 && (await scrape(`${t.server.url}/metrics`)).m!.value('airlock_exec_duration_seconds_count', { runtime: 'runc' }) < 4; i++)
      await new Promise((res) => setTimeout(res, 20));
    const after = (await scrape(`${t.server.url}/metrics`)).m!;
    assert.equal(after.value('airlock_exec_duration_seconds_count', { runtime: 'runc' }), 4);
    assert.ok(
      after.value('airlock_http_requests_total', { method: 'POST', route: '/v1/sandboxes/:id/exec', status: '200' }) >= 4,
      'requests are counted by route template',
    );

    const d = await t.api.call('DELETE', `/v1/sandboxes/${sb.id}`);
    assert.equal(d.status, 200);
    const gone = (await scrape(`${t.server.url}/metrics`)).m!;
    assert.equal(gone.value('airlock_sandboxes', { state: 'running', runtime: 'runc' }), 0);
    assert.equal(gone.value('airlock_sandbox_destroy_duration_seconds_count', { runtime: 'runc' }), 1);
    assert.equal(gone.value('airlock_sandboxes_stopped_total', { runtime: 'runc', reason: 'destroyed' }), 1);

    // No sandbox id, key or env value in any series, on either listener.
    const admin = await scrape(t.server.metricsUrl!, null);
    assert.equal(admin.status, 200, 'the admin listener needs no key');
    for (const text of [admin.text, (await scrape(`${t.server.url}/metrics`)).text]) {
      assert.ok(!text.includes(sb.id), 'no series names a sandbox');
      assert.ok(!text.includes(TEST_KEY), 'no series carries the key');
      assert.ok(text.includes('airlock_sandbox_create_duration_seconds_bucket'), 'positive control: the series are there');
    }
    assert.deepEqual(
      parseExposition(admin.text).samples.filter((s) => 'id' in s.labels || 'sandbox' in s.labels),
      [],
    );
  } finally {
    await t.close();
  }
});

test('the strict parser refuses malformed exposition (positive control)', { timeout: 10_000 }, () => {
  assert.throws(() => parseExposition('# TYPE a counter\na{x="1} 2\n'));
  assert.throws(() => parseExposition('b 1\n'), /undeclared/);
  assert.throws(() => parseExposition('# TYPE a gauge\na one\n'));
  assert.equal(parseExposition('# TYPE a gauge\na{x="1"} 2\n').value('a', { x: '1' }), 2);
});

test('a capacity refusal counts as a quota refusal of its project', { timeout: 60_000 }, async () => {
  const t = await startTestServer(undefined, { observe: { maxWebhooks: 1 } });
  try {
    const first = await t.api.call('POST', '/v1/webhooks', { url: 'http://hooks.invalid/a' });
    assert.equal(first.status, 201);
    const before = (await scrape(`${t.server.url}/metrics`)).m!;
    assert.equal(before.value('airlock_quota_refusals_total'), 0, 'positive control: nothing refused yet');
    const second = await t.api.call('POST', '/v1/webhooks', { url: 'http://hooks.invalid/b' });
    assert.deepEqual([second.status, second.body.code], [429, 'capacity']);
    // The count is taken with the request's log line, just after the response.
    await new Promise((r) => setTimeout(r, 50));
    const after = (await scrape(`${t.server.url}/metrics`)).m!;
    assert.equal(after.value('airlock_quota_refusals_total', { project: 'default', quota: 'server_capacity' }), 1);
  } finally {
    await t.close();
  }
});

test("a project's quota refusal is counted by the quota's name", { timeout: 60_000 }, async () => {
  const t = await startTestServer();
  try {
    assert.equal((await t.api.call('POST', '/v1/projects', { name: 'tight', quotas: { sandboxes: 0 } })).status, 201);
    const key = (await t.api.call('POST', '/v1/projects/tight/keys', { name: 'k', role: 'project' })).body.key as string;
    const refused = await new Api(t.api.url, key).call('POST', '/v1/sandboxes', { runtime: 'runc' });
    assert.ok(['quota_limit', 'quota_exceeded'].includes(refused.body.code), JSON.stringify(refused.body));
    await new Promise((r) => setTimeout(r, 50));
    const m = (await scrape(`${t.server.url}/metrics`)).m!;
    assert.equal(m.value('airlock_quota_refusals_total', { project: 'tight', quota: 'sandboxes' }), 1);
    // The project's own key sees its series, and only its own.
    const own = await scrape(`${t.server.url}/metrics`, key);
    assert.equal(own.m!.value('airlock_quota_refusals_total', { project: 'tight', quota: 'sandboxes' }), 1);
    assert.ok(own.m!.samples.every((x) => x.labels.project === 'tight'));
  } finally {
    await t.close();
  }
});
