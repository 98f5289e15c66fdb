/**
 * Lifecycle events over SSE (per project, resumable with Last-Event-ID) and webhooks (http(s) only,
 * signed, retried with backoff against a target that is down and then comes up, a delivery log,
 * and never in the way of the API), on real runc sandboxes.
 */
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { test } from 'node:test';
import { TEST_KEY, eventually, startTestServer } from '@airlock/testkit/harness.js';
import { SseReader } from '@airlock/testkit/sse-client.js';

const auth = { authorization: `Bearer ${TEST_KEY}` };

interface Received {
  headers: IncomingMessage['headers'];
  body: string;
}

/** A webhook target on loopback; `status` is what it answers. */
function target(port = 0): Promise<{ server: Server; url: string; port: number; got: Received[]; status: { code: number } }> {
  const got: Received[] = [];
  const status = { code: 200 };
  const server = createServer((req, res) => {
    let body = '';
    req.on('data', (d: Buffer) => (body += d));
    req.on('end', () => {
      got.push({ headers: req.headers, body });
      res.writeHead(status.code).end();
    });
  });
  return new Promise((resolve) =>
    server.listen(port, '127.0.0.1', () => {
      const p = (server.address() as AddressInfo).port;
      resolve({ server, url: `http://127.0.0.1:${p}/hook`, port: p, got, status });
    }),
  );
}

function verify(secret: string, r: Received): boolean {
  const m = /^t=(\d+),v1=([0-9a-f]{64})$/.exec(String(r.headers['airlock-signature']));
  if (!m) return false;
  const want = createHmac('sha256', secret).update(`${m[1]}.${r.body}`).digest('hex');
  return want === m[2] && Math.abs(Date.now() / 1000 - Number(m[1])) < 300;
}

test('the lifecycle of real sandboxes as SSE: created … destroyed, with reasons, resumable', { timeout: 5 * 60_000 }, async () => {
  const t = await startTestServer();
  const sse = await new SseReader().open(`${t.api.url}/v1/events`, auth);
  try {
    assert.equal(sse.status, 200);
    assert.equal(sse.contentType, 'text/event-stream');
    const unauth = await fetch(`${t.api.url}/v1/events`);
    assert.equal(unauth.status, 401);

    const sb = await t.api.create({ runtime: 'runc', memoryMiB: 64, network: { egress: 'none' }, env: { PLANTED: 's3cr3t-env-value' } });
    await t.api.exec(sb.id, { cmd: ['sh', '-c', 'exit 7'] });
    // A process the memory limit kills, in a sandbox that goes on.
    const oom = await t.api.exec(sb.id, { cmd: ['python3', '-c', 'b = bytearray(512 * 1024 * 1024)'] });
    assert.equal(oom.reason, 'oom');
    const put = await t.api.call('PUT', `/v1/sandboxes/${sb.id}/network`, { egress: { allow: ['example.com'] } });
    assert.equal(put.status, 200, JSON.stringify(put.body));
    await t.api.call('DELETE', `/v1/sandboxes/${sb.id}`);
    const short = await t.api.create({ runtime: 'runc', timeout: 1 });

    await sse.waitFor((ev) => ev.some((e) => e.event === 'sandbox.destroyed' && JSON.parse(e.data).sandbox === short.id));
    const mine = sse.events.map((e) => ({ ...e, body: JSON.parse(e.data) })).filter((e) => e.body.sandbox === sb.id);
    const types = mine.map((e) => e.event);
    assert.deepEqual(types.slice(0, 2), ['sandbox.created', 'sandbox.started']);
    for (const want of ['sandbox.exec_started', 'sandbox.exec_ended', 'sandbox.oom', 'sandbox.policy_changed', 'sandbox.stopped', 'sandbox.destroyed'])
      assert.ok(types.includes(want), `${want} in ${types.join(', ')}`);
    const ended = mine.find((e) => e.event === 'sandbox.exec_ended' && e.body.data.exitCode === 7);
    assert.ok(ended, 'the exit code is told');
    assert.equal(mine.find((e) => e.event === 'sandbox.stopped')!.body.data.reason, 'destroyed');
    assert.ok(
      mine.every((e, i) => e.id === e.body.id && (i === 0 || Number(e.id) > Number(mine[i - 1]!.id))),
      'ids increase',
    );
    assert.ok(!sse.events.some((e) => e.data.includes('s3cr3t-env-value')), 'no env value in any event');
    const timeout = sse.events.map((e) => JSON.parse(e.data)).find((e) => e.sandbox === short.id && e.type === 'sandbox.timeout');
    assert.ok(timeout, 'a timeout is its own event');
    assert.match(timeout.data.detail, /timeout/);

    // Resume after the third event: exactly the rest, in order.
    const third = sse.events[2]!.id!;
    const again = await new SseReader().open(`${t.api.url}/v1/events`, { ...auth, 'last-event-id': third });
    const rest = sse.events.slice(3).map((e) => e.id);
    await again.waitFor((ev) => ev.length >= rest.length);
    await again.close();
    assert.deepEqual(again.events.map((e) => e.id).slice(0, rest.length), rest);
    const filtered = await new SseReader().open(`${t.api.url}/v1/events?since=0&types=sandbox.destroyed`, auth);
    await filtered.waitFor((ev) => ev.length >= 2);
    await filtered.close();
    assert.ok(filtered.events.every((e) => e.event === 'sandbox.destroyed'));
    const bad = await fetch(`${t.api.url}/v1/events`, { headers: { ...auth, 'last-event-id': 'x' } });
    assert.equal(bad.status, 400);
    const badType = await t.api.call('GET', '/v1/events?types=sandbox.nope');
    assert.equal(badType.status, 400);
  } finally {
    await sse.close();
    await t.close();
  }
});

test('webhooks: http(s) only, signed, retried while the target is down, delivered once it is up, never blocking', { timeout: 5 * 60_000 }, async () => {
  // The receivers listen on loopback, which a webhook may reach only where the operator allows private targets.
  const t = await startTestServer(undefined, { observe: { webhookBackoffMs: 100, webhookAttempts: 12, webhookTimeoutMs: 1000, webhookPrivateTargets: true } });
  // A port that nothing listens on yet: the target is down.
  const probe = await target();
  const downPort = probe.port;
  await new Promise((r) => probe.server.close(r));
  const up = await target();
  // A target that accepts and never answers (each attempt times out).
  const hang = createServer(() => {});
  await new Promise<void>((r) => hang.listen(0, '127.0.0.1', r));
  let later: Awaited<ReturnType<typeof target>> | undefined;
  try {
    for (const url of ['ftp://example.com/x', 'file:///etc/passwd', 'not a url', 'javascript:alert(1)']) {
      const r = await t.api.call('POST', '/v1/webhooks', { url });
      assert.deepEqual([r.status, r.body.code], [400, 'invalid_request'], url);
    }
    const ok = await t.api.call('POST', '/v1/webhooks', { url: up.url, types: ['sandbox.created', 'sandbox.destroyed'] });
    assert.equal(ok.status, 201);
    assert.match(ok.body.secret, /^whsec_/);
    const down = await t.api.call('POST', '/v1/webhooks', { url: `http://127.0.0.1:${downPort}/hook` });
    const slow = await t.api.call('POST', '/v1/webhooks', { url: `http://127.0.0.1:${(hang.address() as AddressInfo).port}/hook` });
    const listed = await t.api.call('GET', '/v1/webhooks');
    assert.equal(listed.body.webhooks.length, 3);
    assert.ok(
      listed.body.webhooks.every((w: { secret?: string }) => w.secret === undefined),
      'secrets are shown once',
    );

    const t0 = performance.now();
    const sb = await t.api.create({ runtime: 'runc' });
    await t.api.call('DELETE', `/v1/sandboxes/${sb.id}`);
    const apiMs = performance.now() - t0;
    assert.ok(apiMs < 10_000, `create + destroy took ${apiMs} ms with a hanging and a dead target`);

    await eventually('the up target got created and destroyed', () => (up.got.length >= 2 ? true : undefined), 30_000);
    const bodies = up.got.map((g) => JSON.parse(g.body));
    assert.deepEqual(
      bodies.map((b) => b.type),
      ['sandbox.created', 'sandbox.destroyed'],
      'only the types asked for',
    );
    for (const g of up.got) assert.ok(verify(ok.body.secret, g), 'the HMAC-SHA256 signature verifies');
    assert.ok(!verify('whsec_wrong', up.got[0]!), 'positive control: a wrong secret does not verify');
    assert.ok(
      !verify(ok.body.secret, { ...up.got[0]!, body: up.got[0]!.body.replace('created', 'destroyed') }),
      'positive control: a changed body does not verify',
    );
    assert.equal(up.got[0]!.headers['airlock-event-id'], String(bodies[0].id));

    // The dead target: attempts fail and are logged; then it comes up and gets every event.
    await eventually(
      'failed attempts are logged',
      async () => {
        const d = await t.api.call('GET', `/v1/webhooks/${down.body.id}/deliveries`);
        return d.body.deliveries.filter((x: { outcome: string }) => x.outcome === 'failed').length >= 2 ? true : undefined;
      },
      30_000,
    );
    later = await target(downPort);
    await eventually(
      'the revived target got all four events',
      () => (new Set(later!.got.map((g) => JSON.parse(g.body).id)).size >= 4 ? true : undefined),
      60_000,
    );
    const log = (await t.api.call('GET', `/v1/webhooks/${down.body.id}/deliveries`)).body.deliveries as {
      outcome: string;
      attempt: number;
      error: string | null;
    }[];
    const delivered = log.filter((d) => d.outcome === 'delivered');
    assert.ok(
      delivered.some((d) => d.attempt > 1),
      'a delivery after retries',
    );
    assert.ok(
      log.some((d) => d.outcome === 'failed' && d.error !== null),
      'the failures say why',
    );
    const hung = await eventually(
      'the hanging target times out',
      async () => {
        const d = await t.api.call('GET', `/v1/webhooks/${slow.body.id}/deliveries`);
        return d.body.deliveries.length > 0 ? d.body.deliveries : undefined;
      },
      30_000,
    );
    assert.match(hung[0].error, /did not answer in time/);

    const del = await t.api.call('DELETE', `/v1/webhooks/${down.body.id}`);
    assert.equal(del.status, 204);
    assert.equal((await t.api.call('GET', `/v1/webhooks/${down.body.id}/deliveries`)).status, 404);
  } finally {
    await t.close();
    up.server.close();
    later?.server.close();
    hang.closeAllConnections();
    hang.close();
  }
});

test(
  'webhooks reach only public addresses by default: no literal, no name that resolves to loopback (judged at the listener)',
  { timeout: 2 * 60_000 },
  async () => {
    const listener = await target();
    const t = await startTestServer(undefined, { observe: { webhookBackoffMs: 50, webhookAttempts: 2, webhookTimeoutMs: 1000 } });
    // Positive control: the same listener, through a server that allows private targets, receives the event.
    const control = await startTestServer(undefined, {
      observe: { webhookBackoffMs: 50, webhookAttempts: 2, webhookTimeoutMs: 1000, webhookPrivateTargets: true },
    });
    try {
      for (const host of ['127.0.0.1', '10.1.2.3', '169.254.169.254', '[::1]', '[::ffff:127.0.0.1]', '0.0.0.0', '192.168.1.1']) {
        const r = await t.api.call('POST', '/v1/webhooks', { url: `http://${host}:${listener.port}/hook` });
        assert.deepEqual([r.status, r.body.code], [400, 'invalid_request'], `${host}: ${JSON.stringify(r.body)}`);
        assert.match(r.body.message, /public addresses/, host);
      }
      // A name is resolved at delivery: localhost gives only loopback, so nothing is sent.
      const named = await t.api.call('POST', '/v1/webhooks', { url: `http://localhost:${listener.port}/hook`, types: ['sandbox.created'] });
      assert.equal(named.status, 201, JSON.stringify(named.body));
      const allowed = await control.api.call('POST', '/v1/webhooks', { url: `http://localhost:${listener.port}/hook`, types: ['sandbox.created'] });
      assert.equal(allowed.status, 201, JSON.stringify(allowed.body));

      const sb = await t.api.create({ runtime: 'runc', memoryMiB: 64 });
      const csb = await control.api.create({ runtime: 'runc', memoryMiB: 64 });
      const log = await eventually(
        'the webhook to localhost to give up',
        async () => {
          const d = await t.api.call('GET', `/v1/webhooks/${named.body.id}/deliveries`);
          return d.body.deliveries.some((x: { outcome: string }) => x.outcome === 'gave_up') ? d.body.deliveries : undefined;
        },
        30_000,
      );
      assert.ok(
        log.every((x: { outcome: string; error: string | null }) => x.outcome !== 'delivered' && /not public/.test(x.error ?? '')),
        JSON.stringify(log),
      );
      await eventually('the control delivery', () => (listener.got.some((g) => JSON.parse(g.body).sandbox === csb.id) ? true : undefined), 30_000);
      assert.equal(
        listener.got.filter((g) => JSON.parse(g.body).sandbox === sb.id).length,
        0,
        'the listener received nothing from the server that allows only public targets',
      );
      await t.api.call('DELETE', `/v1/sandboxes/${sb.id}`);
      await control.api.call('DELETE', `/v1/sandboxes/${csb.id}`);
    } finally {
      await t.close();
      await control.close();
      listener.server.close();
    }
  },
);

test('open event and stats streams do not hold up the server stopping', { timeout: 60_000 }, async () => {
  const t = await startTestServer();
  const sb = await t.api.create({ runtime: 'runc' });
  const sse = await new SseReader().open(`${t.api.url}/v1/events`, auth);
  const stats = await fetch(`${t.api.url}/v1/sandboxes/${sb.id}/stats?follow=1`, { headers: auth });
  const reader = stats.body!.getReader();
  await reader.read();
  const t0 = performance.now();
  await t.close();
  const ms = performance.now() - t0;
  await sse.close();
  assert.ok(ms < 2000, `close took ${Math.round(ms)} ms with two streams open`);
  // A sample may still be buffered; after it, the stream ends.
  let done = false;
  for (let i = 0; i < 5 && !done; i++) done = (await reader.read().catch(() => ({ done: true }))).done === true;
  assert.ok(done, 'the stats stream ended');
});
