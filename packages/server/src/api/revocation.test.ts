/**
 * Revocation has immediate effect, including for what the key has open: an output stream, an exec
 * stream, a buffered exec and a WebSocket attach (closed with 4401) end when the key is revoked,
 * and a ticket it was given no longer opens anything. Another key's streams (the positive control)
 * stay open. Rotation gives a working key and revokes the old one.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { ATTACH_CLOSE } from '@airlock/protocol';
import { Attach } from '@airlock/testkit/attach-client.js';
import { Api, eventually, startTestServer, type TestServer } from '@airlock/testkit/harness.js';

describe('key revocation', { timeout: 5 * 60_000 }, () => {
  let t: TestServer;
  let admin: Api;

  before(async () => {
    t = await startTestServer();
    admin = t.api;
    assert.equal((await admin.call('POST', '/v1/projects', { name: 'alpha' })).status, 201);
  });
  after(async () => {
    await t?.close();
  });

  const issue = async (name: string) => {
    const r = await admin.call('POST', '/v1/projects/alpha/keys', { name, role: 'project' });
    assert.equal(r.status, 201);
    return { api: new Api(admin.url, r.body.key), id: r.body.info.id as string };
  };

  /** Opens a streamed GET/POST and reads it in the background; `ended` resolves when the body ends. */
  const open = async (api: Api, method: string, path: string, body?: unknown) => {
    const res = await fetch(`${api.url}${path}`, {
      method,
      headers: { authorization: `Bearer ${api.key}`, ...(body ? { 'content-type': 'application/json' } : {}) },
      ...(body ? { body: JSON.stringify(body) } : {}),
    });
    assert.equal(res.status, 200, `${method} ${path}`);
    let text = '';
    let done = false;
    const ended = (async () => {
      const dec = new TextDecoder();
      try {
        for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) text += dec.decode(chunk);
      } catch {
        // ended abruptly: also an end
      }
      done = true;
    })();
    return {
      ended,
      get done() {
        return done;
      },
      get text() {
        return text;
      },
    };
  };

  test('a revoked key loses its streams, attach sessions and tickets at once; another key keeps its own', async () => {
    const victim = await issue('victim');
    const other = await issue('other');
    const sb = await victim.api.create({ runtime: 'bwrap' });
    const proc = await victim.api.call('POST', `/v1/sandboxes/${sb.id}/processes`, { cmd: ['sh', '-c', 'while true; do echo tick; sleep 0.2; done'] });
    assert.equal(proc.status, 201);
    const out = `/v1/sandboxes/${sb.id}/processes/${proc.body.id}/output?follow=true`;
    const vOut = await open(victim.api, 'GET', out);
    const vExec = await open(victim.api, 'POST', `/v1/sandboxes/${sb.id}/exec/stream`, { cmd: ['sleep', '120'] });
    const vBuffered = victim.api.call('POST', `/v1/sandboxes/${sb.id}/exec`, { cmd: ['sleep', '120'] });
    const vAttach = await Attach.open(victim.api, sb.id, proc.body.id);
    const ticket = (await victim.api.call('POST', `/v1/sandboxes/${sb.id}/processes/${proc.body.id}/ticket`)).body;
    const oOut = await open(other.api, 'GET', out);
    const oAttach = await Attach.open(other.api, sb.id, proc.body.id);
    await eventually('output flowing', () => (vOut.text.includes('"stdout"') && oOut.text.includes('"stdout"') ? true : undefined), 30_000);
    const before = (await admin.call('GET', '/v1/projects/alpha')).body.usage.execs;
    assert.equal(before, 6, 'two output streams, one exec stream, one buffered exec, two attaches in flight');

    assert.equal((await admin.call('DELETE', `/v1/keys/${victim.id}`)).status, 200);
    await eventually('the victim output stream ends', () => (vOut.done ? true : undefined), 10_000);
    await eventually('the victim exec stream ends', () => (vExec.done ? true : undefined), 10_000);
    await eventually('the victim attach closes with 4401', () => (vAttach.closeCode !== undefined ? true : undefined), 10_000);
    assert.equal(vAttach.closeCode, ATTACH_CLOSE.unauthenticated);
    assert.match(vOut.text.trim().split('\n').pop()!, /"code":"unauthenticated"/, 'the NDJSON stream says why in its last line');
    const buffered = await vBuffered;
    assert.notEqual(buffered.status, 200, 'the buffered exec was abandoned');
    assert.equal((await victim.api.call('GET', '/v1/sandboxes')).status, 401, 'its next request is refused');
    await assert.rejects(
      Attach.open(victim.api, sb.id, proc.body.id, `?ticket=${ticket.ticket}`, { headers: {} }),
      (e: any) => e.status === 401,
      'its ticket opens nothing',
    );

    // Positive control: the other key's stream and attach are still live.
    const seen = oOut.text.length;
    await eventually('the other stream still flows', () => (oOut.text.length > seen ? true : undefined), 10_000);
    assert.equal(oOut.done, false);
    assert.equal(oAttach.closeCode, undefined);
    await eventually(
      'the victim units are given back',
      async () => ((await admin.call('GET', '/v1/projects/alpha')).body.usage.execs === 2 ? true : undefined),
      10_000,
    );
    oAttach.ws.close();
    await admin.call('DELETE', `/v1/sandboxes/${sb.id}`);
    await oOut.ended;
  });

  test('rotation: a new key that works, the old one refused; an expired key is refused', async () => {
    const k = await issue('rotating');
    assert.equal((await k.api.call('GET', '/v1/sandboxes')).status, 200);
    const r = await admin.call('POST', `/v1/keys/${k.id}/rotate`);
    assert.equal(r.status, 200);
    assert.notEqual(r.body.info.id, k.id);
    assert.deepEqual([r.body.info.project, r.body.info.role, r.body.info.name], ['alpha', 'project', 'rotating']);
    assert.equal((await k.api.call('GET', '/v1/sandboxes')).status, 401);
    assert.equal((await new Api(admin.url, r.body.key).call('GET', '/v1/sandboxes')).status, 200);
    const listed = (await admin.call('GET', '/v1/projects/alpha/keys')).body.keys;
    assert.ok(listed.find((x: any) => x.id === k.id).revokedAt, 'the old key is listed as revoked');
    assert.equal(JSON.stringify(listed).includes(r.body.key), false, 'no secret in the listing');
    const short = await admin.call('POST', '/v1/projects/alpha/keys', { name: 'short', expiresInSeconds: 1 });
    const shortApi = new Api(admin.url, short.body.key);
    assert.equal((await shortApi.call('GET', '/v1/sandboxes')).status, 200, 'positive control: valid before its expiry');
    await new Promise((res) => setTimeout(res, 1200));
    assert.equal((await shortApi.call('GET', '/v1/sandboxes')).status, 401);
  });

  test('deleting a project revokes its keys; default cannot be deleted', async () => {
    assert.equal((await admin.call('POST', '/v1/projects', { name: 'gone' })).status, 201);
    const key = (await admin.call('POST', '/v1/projects/gone/keys', { name: 'k' })).body.key;
    const api = new Api(admin.url, key);
    assert.equal((await api.call('GET', '/v1/sandboxes')).status, 200);
    assert.equal((await admin.call('DELETE', '/v1/projects/gone')).status, 200);
    assert.equal((await api.call('GET', '/v1/sandboxes')).status, 401);
    const d = await admin.call('DELETE', '/v1/projects/default');
    assert.deepEqual([d.status, d.body.code], [409, 'invalid_state']);
    assert.equal((await admin.call('POST', '/v1/projects', { name: 'alpha' })).status, 409, 'a name is taken once');
    assert.equal((await admin.call('POST', '/v1/projects', { name: 'Bad Name' })).status, 400);
  });
});
