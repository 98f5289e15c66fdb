/**
 * The HTTP contract independent of the runtime: auth, validation, error codes, OpenAPI, listing,
 * and that bad input leaves nothing behind.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { Api, startTestServer, type TestServer } from '@airlock/testkit/harness.js';

describe('HTTP API', { timeout: 10 * 60_000 }, () => {
  let t: TestServer;
  let api: Api;
  before(async () => {
    t = await startTestServer();
    api = t.api;
  });
  after(async () => {
    await t?.close();
  });

  test('health answers without a key and lists runtimes', async () => {
    const r = await new Api(api.url, undefined).call('GET', '/v1/health');
    assert.equal(r.status, 200);
    assert.equal(r.body.status, 'ok');
    assert.deepEqual(
      r.body.runtimes.map((x: any) => x.name),
      ['gvisor', 'runc', 'bwrap', 'microvm'],
    );
  });

  test('every other route needs a valid key', async () => {
    const anon = new Api(api.url, undefined);
    const wrong = new Api(api.url, 'not-the-key-at-all-0000');
    for (const [method, path] of [
      ['GET', '/v1/sandboxes'],
      ['POST', '/v1/sandboxes'],
      ['GET', '/v1/sandboxes/sb-aaaaaaaaaaaaaaaaaaaa'],
      ['DELETE', '/v1/sandboxes/sb-aaaaaaaaaaaaaaaaaaaa'],
      ['POST', '/v1/sandboxes/sb-aaaaaaaaaaaaaaaaaaaa/exec'],
      ['GET', '/v1/sandboxes/sb-aaaaaaaaaaaaaaaaaaaa/files?path=/etc/passwd'],
    ] as const) {
      for (const client of [anon, wrong]) {
        const r = await client.call(method, path, method === 'POST' ? { cmd: ['true'] } : undefined);
        assert.equal(r.status, 401, `${method} ${path}`);
        assert.equal(r.body.code, 'unauthenticated');
      }
    }
    const malformed = await api.call('GET', '/v1/sandboxes', undefined, { authorization: 'Basic abc' });
    assert.equal(malformed.status, 401);
  });

  test('serves an OpenAPI 3.1 document generated from the schemas', async () => {
    const r = await new Api(api.url, undefined).call('GET', '/v1/openapi.json');
    assert.equal(r.status, 200);
    assert.equal(r.body.openapi, '3.1.0');
    for (const p of [
      '/v1/pools',
      '/v1/sandboxes',
      '/v1/sandboxes/{id}',
      '/v1/sandboxes/{id}/exec',
      '/v1/sandboxes/{id}/exec/stream',
      '/v1/sandboxes/{id}/files',
    ]) {
      assert.ok(r.body.paths[p], `documents ${p}`);
    }
    assert.ok(r.body.components.schemas.CreateSandboxRequest, 'names the request schema');
    assert.equal(r.body.components.schemas.CreateSandboxRequest.properties.memoryMiB.maximum, 256 * 1024);
  });

  test('a server without pools says so', async () => {
    const r = await api.call('GET', '/v1/pools');
    assert.deepEqual([r.status, r.body], [200, { pools: [], refillConcurrency: 1 }]);
  });

  test('bad create requests get 4xx with a code naming what to fix, and create nothing', async () => {
    const before =
      (await api.call('GET', '/v1/sandboxes?state=creating')).body.sandboxes.length + (await api.call('GET', '/v1/sandboxes')).body.sandboxes.length;
    const cases: [unknown, number, string, RegExp][] = [
      [{ runtime: 'docker' }, 400, 'invalid_request', /runtime/],
      [{ memoryMiB: -5 }, 400, 'invalid_request', /memoryMiB/],
      [{ memoryMiB: 10_000_000 }, 400, 'invalid_request', /memoryMiB/],
      [{ cpu: 0 }, 400, 'invalid_request', /cpu/],
      [{ cpu: 1000 }, 400, 'invalid_request', /cpu/],
      [{ timeout: -1 }, 400, 'invalid_request', /timeout/],
      [{ env: { '1BAD': 'x' } }, 400, 'invalid_request', /env/],
      [{ metadata: { 'Bad Key': 'x' } }, 400, 'invalid_request', /metadata/],
      [{ surprise: true }, 400, 'invalid_request', /surprise|unrecognized/i],
      [{ image: 'Not A Reference' }, 400, 'invalid_request', /repository component/],
      [{ image: '127.0.0.1:1/nothing:1' }, 502, 'registry_unavailable', /127\.0\.0\.1:1.*retry/],
      [{ diskMiB: 1 }, 400, 'invalid_request', /diskMiB/],
      [{ memoryMiB: 200_000 }, 400, 'invalid_request', /limit/],
    ];
    for (const [body, status, code, message] of cases) {
      const r = await api.call('POST', '/v1/sandboxes', body);
      assert.equal(r.status, status, JSON.stringify(body));
      assert.equal(r.body.code, code, JSON.stringify(body));
      assert.match(r.body.message, message, JSON.stringify(r.body));
    }
    const malformed = await api.call('POST', '/v1/sandboxes', '{"runtime": ', { 'content-type': 'application/json' });
    assert.deepEqual([malformed.status, malformed.body.code], [400, 'invalid_request']);
    const after =
      (await api.call('GET', '/v1/sandboxes?state=creating')).body.sandboxes.length + (await api.call('GET', '/v1/sandboxes')).body.sandboxes.length;
    assert.equal(after, before, 'no rows were left by rejected requests');
  });

  test('unknown ids are 404 on every route', async () => {
    for (const [method, path, body] of [
      ['GET', '/v1/sandboxes/sb-doesnotexist000000000', undefined],
      ['DELETE', '/v1/sandboxes/nope', undefined],
      ['POST', '/v1/sandboxes/nope/exec', { cmd: ['true'] }],
      ['POST', '/v1/sandboxes/nope/exec/stream', { cmd: ['true'] }],
      ['GET', '/v1/sandboxes/nope/files?path=/x', undefined],
      ['GET', '/v1/sandboxes/nope/files/list?path=/', undefined],
      ['GET', '/v1/nothing-here', undefined],
    ] as const) {
      const r = await api.call(method, path, body);
      assert.equal(r.status, 404, `${method} ${path}`);
      assert.equal(r.body.code, 'not_found');
    }
  });

  test('bad exec requests are rejected before reaching a sandbox', async () => {
    // The sandbox is looked up (and must be the key's project's) before the body is validated, so that
    // an invalid body cannot tell another project's sandbox from one that does not exist: both 404.
    assert.equal((await api.call('POST', '/v1/sandboxes/nope/exec', { cmd: [] })).status, 404);
    const sb = await api.create({ runtime: 'runc' });
    try {
      // An exec without cmd is valid (the image's Entrypoint + Cmd), so {} is not among these.
      for (const body of [
        { cmd: [] },
        { cmd: '' },
        { cmd: ['a\0b'] },
        { cmd: ['true'], cwd: 'relative' },
        { cmd: ['true'], timeout: -1 },
        { cmd: ['true'], user: 'x y' },
      ]) {
        const r = await api.call('POST', `/v1/sandboxes/${sb.id}/exec`, body);
        assert.equal(r.status, 400, JSON.stringify(body));
        assert.equal(r.body.code, 'invalid_request');
      }
    } finally {
      await api.call('DELETE', `/v1/sandboxes/${sb.id}`);
    }
  });

  test('lists by state and label, and keeps destroyed sandboxes out by default', async () => {
    const a = await api.create({ runtime: 'runc', metadata: { team: 'ml', tier: 'gold' } });
    const b = await api.create({ runtime: 'runc', metadata: { team: 'ml' } });
    const c = await api.create({ runtime: 'runc', metadata: { team: 'web' } });
    try {
      const ml = (await api.call('GET', '/v1/sandboxes?label=team=ml')).body.sandboxes.map((s: any) => s.id);
      assert.deepEqual(ml.sort(), [a.id, b.id].sort());
      const gold = (await api.call('GET', '/v1/sandboxes?label=team=ml&label=tier=gold')).body.sandboxes.map((s: any) => s.id);
      assert.deepEqual(gold, [a.id]);
      await api.call('DELETE', `/v1/sandboxes/${c.id}`);
      const running = (await api.call('GET', '/v1/sandboxes?state=running')).body.sandboxes.map((s: any) => s.id);
      assert.ok(!running.includes(c.id));
      const destroyed = (await api.call('GET', '/v1/sandboxes?state=destroyed')).body.sandboxes.map((s: any) => s.id);
      assert.ok(destroyed.includes(c.id));
      const bad = await api.call('GET', '/v1/sandboxes?label=novalue');
      assert.equal(bad.status, 400);
      const secretEnv = await api.create({ runtime: 'runc', env: { TOKEN: 'hunter2-secret' } });
      const shown = await api.call('GET', `/v1/sandboxes/${secretEnv.id}`);
      assert.deepEqual(shown.body.envKeys, ['TOKEN']);
      assert.ok(!JSON.stringify(shown.body).includes('hunter2-secret'), 'env values are never returned');
    } finally {
      for (const s of [a, b]) await api.call('DELETE', `/v1/sandboxes/${s.id}`);
    }
  });
});
