/**
 * The edge's answers to bad input found by trying it (issues 9 and 10): every body bounded whatever
 * its content type, the right status for a wrong method or media type, strict base64, and limits
 * that refuse before reading or sending. Each answer is a 4xx with a stable code and leaves nothing.
 */
import assert from 'node:assert/strict';
import { request } from 'node:http';
import { after, before, describe, test } from 'node:test';
import { startTestServer, type Api, type TestServer } from '@airlock/testkit/harness.js';

/**
 * A raw HTTP request that reads the answer as soon as it comes, as curl does, even while the body is
 * still being sent (fetch only reads it after sending everything).
 */
function rawRequest(url: string, method: string, headers: Record<string, string>, body: Buffer): Promise<{ status: number; body: any }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method, headers: { ...headers, 'content-length': String(body.length) } }, (res) => {
      let text = '';
      res.setEncoding('utf8').on('data', (d: string) => (text += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text ? JSON.parse(text) : undefined }));
    });
    req.on('error', (e) => (e.message.includes('EPIPE') || e.message.includes('ECONNRESET') ? undefined : reject(e)));
    req.end(body);
  });
}

describe('the API edge: bounded bodies and exact statuses', { timeout: 120_000 }, () => {
  let t: TestServer;
  let api: Api;
  let sb: { id: string };
  before(async () => {
    t = await startTestServer(undefined, { limits: { maxBodyBytes: 1024 * 1024, maxWriteBytes: 4 * 1024 * 1024 } });
    api = t.api;
    sb = await api.create({ runtime: 'runc' });
  });
  after(async () => {
    await t?.close();
  });

  test('a JSON body over the limit is refused whatever its content type says', async () => {
    const big = JSON.stringify({ cmd: ['true'], env: { A: 'x'.repeat(2 * 1024 * 1024) } });
    for (const type of ['application/json', 'Application/JSON', 'application/vnd.airlock+json', 'text/plain', '']) {
      const r = await api.call('POST', `/v1/sandboxes/${sb.id}/exec`, big, type ? { 'content-type': type } : {});
      assert.ok(r.status === 413 || r.status === 415, `${type || '(none)'}: ${r.status}`);
      if (r.status === 413) assert.equal(r.body.code, 'payload_too_large');
    }
    // Positive control: JSON spelled in capitals is still JSON when it is small.
    const ok = await api.call('POST', `/v1/sandboxes/${sb.id}/exec`, JSON.stringify({ cmd: ['echo', 'caps'] }), { 'content-type': 'Application/JSON' });
    assert.deepEqual([ok.status, ok.body.stdout], [200, 'caps\n']);
  });

  test('a wrong content type on a JSON route is 415 and names the right one', async () => {
    const r = await api.call('POST', `/v1/sandboxes/${sb.id}/exec`, 'cmd=true', { 'content-type': 'application/x-www-form-urlencoded' });
    assert.deepEqual([r.status, r.body.code], [415, 'unsupported_media_type']);
    assert.match(r.body.message, /application\/json/);
  });

  test('a wrong method on a known path is 405 with Allow, an unknown path 404', async () => {
    const r = await api.call('PATCH', `/v1/sandboxes/${sb.id}`);
    assert.deepEqual([r.status, r.body.code], [405, 'method_not_allowed']);
    const res = await fetch(`${api.url}/v1/sandboxes/${sb.id}`, { method: 'PUT', headers: { authorization: `Bearer ${api.key}` } });
    assert.equal(res.status, 405);
    assert.deepEqual(res.headers.get('allow')?.split(', ').sort(), ['DELETE', 'GET']);
    const unknown = await api.call('GET', '/v1/nothing-here');
    assert.deepEqual([unknown.status, unknown.body.code], [404, 'not_found']);
  });

  test('invalid base64 stdin is refused, valid base64 is decoded', async () => {
    const bad = await api.call('POST', `/v1/sandboxes/${sb.id}/exec`, { cmd: ['cat'], stdin: 'not*base64!', stdinEncoding: 'base64' });
    assert.deepEqual([bad.status, bad.body.code], [400, 'invalid_request']);
    assert.match(bad.body.message, /base64/);
    const good = await api.exec(sb.id, { cmd: ['cat'], stdin: Buffer.from('ok').toString('base64'), stdinEncoding: 'base64' });
    assert.equal(good.stdout, 'ok');
  });

  test('an upload over the per-write limit is refused with 413 before its body is read, and the sandbox goes on', async () => {
    const body = Buffer.alloc(5 * 1024 * 1024, 1);
    const r = await api.call('PUT', `/v1/sandboxes/${sb.id}/files?path=/tmp/too-big`, body, { 'content-type': 'application/octet-stream' });
    assert.deepEqual([r.status, r.body.code], [413, 'payload_too_large']);
    const there = await api.exec(sb.id, { cmd: 'test -e /tmp/too-big && echo yes || echo no' });
    assert.equal(there.stdout, 'no\n', 'nothing half-written');
    // A chunked upload has no length to check first: it is cut at the limit, with the same answer.
    const stream = new ReadableStream<Uint8Array>({
      start(c) {
        for (let i = 0; i < 5; i++) c.enqueue(new Uint8Array(1024 * 1024));
        c.close();
      },
    });
    const res = await fetch(`${api.url}/v1/sandboxes/${sb.id}/files?path=/tmp/too-big`, {
      method: 'PUT',
      headers: { authorization: `Bearer ${api.key}`, 'content-type': 'application/octet-stream' },
      body: stream,
      duplex: 'half',
    } as RequestInit);
    assert.equal(res.status, 413);
    assert.equal((await api.call('GET', `/v1/sandboxes/${sb.id}`)).body.state, 'running');
    // A declared 64 MiB: answered at once, the body never read, the connection closed.
    const huge = await rawRequest(
      `${api.url}/v1/sandboxes/${sb.id}/files?path=/tmp/huge`,
      'PUT',
      { authorization: `Bearer ${api.key}` },
      Buffer.alloc(64 * 1024 * 1024),
    );
    assert.deepEqual([huge.status, huge.body?.code], [413, 'payload_too_large']);
  });

  test("an exec whose arguments and environment pass one frame is 413 at the edge, and the sandbox's channel is fine", async () => {
    const env: Record<string, string> = {};
    for (let i = 0; i < 40; i++) env[`V${i}`] = 'x'.repeat(20_000);
    // Within the body limit of 1 MiB? No: send it to a server with the default limits.
    const wide = await startTestServer(undefined, {});
    try {
      const box = await wide.api.create({ runtime: 'runc', env });
      const r = await wide.api.call('POST', `/v1/sandboxes/${box.id}/exec`, {
        cmd: ['true'],
        env: Object.fromEntries(Object.entries(env).map(([k, v]) => [`E${k}`, v])),
      });
      assert.deepEqual([r.status, r.body.code], [413, 'payload_too_large']);
      const ok = await wide.api.exec(box.id, { cmd: ['echo', 'after'] });
      assert.equal(ok.stdout, 'after\n', 'no handler left behind, the channel still works');
    } finally {
      await wide.close();
    }
  });
});
