/**
 * What a project key of another project sees of the observation routes: none of project default's
 * events, webhooks, stats or series (tenancy's projects and keys, made through its API).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Api, TEST_KEY, startTestServer } from '@airlock/testkit/harness.js';
import { SseReader } from '@airlock/testkit/sse-client.js';
import { parseExposition } from '@airlock/testkit/prom-text.js';

test('a key of another project sees nothing of project default', { timeout: 3 * 60_000 }, async () => {
  const t = await startTestServer();
  assert.equal((await t.api.call('POST', '/v1/projects', { name: 'other' })).status, 201);
  const issued = await t.api.call('POST', '/v1/projects/other/keys', { name: 'other project', role: 'project' });
  assert.equal(issued.status, 201, JSON.stringify(issued.body));
  const otherKey = issued.body.key as string;
  const other = new Api(t.api.url, otherKey);
  const theirs = await new SseReader().open(`${t.api.url}/v1/events?since=0`, { authorization: `Bearer ${otherKey}` });
  const ours = await new SseReader().open(`${t.api.url}/v1/events?since=0`, { authorization: `Bearer ${TEST_KEY}` });
  try {
    const hook = await t.api.call('POST', '/v1/webhooks', { url: 'http://hooks.invalid/x' });
    const sb = await t.api.create({ runtime: 'runc' });
    await t.api.exec(sb.id, { cmd: ['true'] });
    await ours.waitFor((ev) => ev.some((e) => e.event === 'sandbox.exec_ended'));
    await new Promise((r) => setTimeout(r, 200));
    assert.ok(ours.events.length >= 4, 'positive control: the owner sees its events');
    assert.deepEqual(theirs.events, [], 'another project sees none of them');

    assert.deepEqual((await other.call('GET', '/v1/webhooks')).body.webhooks, []);
    assert.equal((await other.call('GET', `/v1/webhooks/${hook.body.id}/deliveries`)).status, 404);
    assert.equal((await other.call('DELETE', `/v1/webhooks/${hook.body.id}`)).status, 404);
    assert.equal((await other.call('GET', `/v1/sandboxes/${sb.id}/stats`)).status, 404);
    assert.equal((await t.api.call('GET', `/v1/sandboxes/${sb.id}/stats`)).status, 200, 'positive control: the owner reads them');

    const text = await (await fetch(`${t.api.url}/metrics`, { headers: { authorization: `Bearer ${otherKey}` } })).text();
    const seen = parseExposition(text);
    assert.ok(
      seen.samples.every((s) => s.labels.project === 'other'),
      `only its own project's samples: ${text.slice(0, 400)}`,
    );
    assert.ok(!text.includes('process_cpu') && !text.includes('airlock_http_requests_total'), 'no server-wide series');
    const admin = parseExposition(await (await fetch(`${t.api.url}/metrics`, { headers: { authorization: `Bearer ${TEST_KEY}` } })).text());
    assert.equal(admin.value('airlock_sandboxes', { project: 'default', state: 'running' }), 1, 'positive control: the admin sees the series');
  } finally {
    await theirs.close();
    await ours.close();
    await t.close();
  }
});
