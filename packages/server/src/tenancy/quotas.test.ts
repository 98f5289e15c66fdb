/**
 * Quotas on real sandboxes: project A hits its own quota with a clear 429 (or 403 for a request
 * bigger than the project may ever have) that names the quota and its limit, creates nothing, and
 * project B is unaffected. In-flight quotas (execs and streams, pulls), a pooled sandbox counting
 * against the project that claims it, and per-key rates with Retry-After.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { Api, eventually, startTestServer, type TestServer, projectWithKey } from '@airlock/testkit/harness.js';

describe('project quotas', { timeout: 10 * 60_000 }, () => {
  let t: TestServer;
  let a: Api;
  let b: Api;
  before(async () => {
    t = await startTestServer();
    a = await projectWithKey(t.api, 'alpha', { sandboxes: 2, memoryMiB: 1024, cpu: 1, execs: 1, pulls: 0 });
    b = await projectWithKey(t.api, 'beta');
  });
  after(async () => {
    await t?.close();
  });

  const holding = async (api: Api) =>
    (await api.call('GET', '/v1/sandboxes')).body.sandboxes.length + (await api.call('GET', '/v1/sandboxes?state=creating')).body.sandboxes.length;

  test('A at its sandbox quota gets 429 naming it and creates nothing; B is unaffected', async () => {
    const s1 = await a.create({ runtime: 'bwrap', memoryMiB: 256, cpu: 0.5 });
    const s2 = await a.create({ runtime: 'bwrap', memoryMiB: 256, cpu: 0.5 });
    const over = await a.call('POST', '/v1/sandboxes', { runtime: 'bwrap', memoryMiB: 256, cpu: 0.5 });
    assert.deepEqual([over.status, over.body.code], [429, 'quota_exceeded']);
    assert.match(over.body.message, /sandboxes=2/);
    assert.equal(await holding(a), 2, 'the refused create left nothing');
    const usage = (await t.api.call('GET', '/v1/projects/alpha')).body;
    assert.deepEqual([usage.usage.sandboxes, usage.usage.memoryMiB, usage.quotas.sandboxes], [2, 512, 2]);
    // B, meanwhile: its creates go through.
    const sb = await b.create({ runtime: 'bwrap' });
    assert.equal((await b.exec(sb.id, { cmd: ['true'] })).exitCode, 0);
    await b.call('DELETE', `/v1/sandboxes/${sb.id}`);
    // Released: A may create again.
    await a.call('DELETE', `/v1/sandboxes/${s1.id}`);
    const s3 = await a.create({ runtime: 'bwrap', memoryMiB: 256, cpu: 0.5 });
    for (const s of [s2, s3]) await a.call('DELETE', `/v1/sandboxes/${s.id}`);
  });

  test('memory and vCPU quotas: over the total is 429, one sandbox bigger than the project may have is 403', async () => {
    const big = await a.call('POST', '/v1/sandboxes', { runtime: 'bwrap', cpu: 2 });
    assert.deepEqual([big.status, big.body.code], [403, 'quota_limit']);
    assert.match(big.body.message, /cpu=1/);
    const s1 = await a.create({ runtime: 'bwrap', memoryMiB: 768, cpu: 0.5 });
    const over = await a.call('POST', '/v1/sandboxes', { runtime: 'bwrap', memoryMiB: 512, cpu: 0.5 });
    assert.deepEqual([over.status, over.body.code], [429, 'quota_exceeded']);
    assert.match(over.body.message, /memoryMiB=1024/);
    assert.equal(await holding(a), 1);
    await a.call('DELETE', `/v1/sandboxes/${s1.id}`);
  });

  test('execs in flight: a second exec while one runs is 429; B runs its own; the unit comes back', async () => {
    const sa = await a.create({ runtime: 'bwrap', cpu: 0.5 });
    const sb = await b.create({ runtime: 'bwrap' });
    const long = a.call('POST', `/v1/sandboxes/${sa.id}/exec`, { cmd: ['sleep', '2'] });
    await eventually(
      'the first exec holds the unit',
      async () => ((await t.api.call('GET', '/v1/projects/alpha')).body.usage.execs === 1 ? true : undefined),
      10_000,
    );
    const second = await a.call('POST', `/v1/sandboxes/${sa.id}/exec`, { cmd: ['true'] });
    assert.deepEqual([second.status, second.body.code], [429, 'quota_exceeded']);
    assert.match(second.body.message, /execs=1/);
    assert.equal((await b.exec(sb.id, { cmd: ['true'] })).exitCode, 0, 'B is unaffected');
    assert.equal((await long).status, 200);
    assert.equal((await a.exec(sa.id, { cmd: ['true'] })).exitCode, 0, 'released when the first ended');
    await a.call('DELETE', `/v1/sandboxes/${sa.id}`);
    await b.call('DELETE', `/v1/sandboxes/${sb.id}`);
  });

  test('pulls: a project whose pulls quota is 0 may not pull, import or build (403); B may', async () => {
    for (const [path, body, type] of [
      ['/v1/images/pull', JSON.stringify({ reference: 'docker.io/library/alpine:3' }), 'application/json'],
      ['/v1/images/import', new Uint8Array(0), 'application/x-tar'],
      ['/v1/images/build', new Uint8Array(0), 'application/x-tar'],
    ] as const) {
      const r = await a.call('POST', path, body, { 'content-type': type });
      assert.deepEqual([r.status, r.body.code], [403, 'quota_limit'], path);
      assert.match(r.body.message, /pulls=0/);
    }
    const r = await b.call('POST', '/v1/images/import', new Uint8Array(0), { 'content-type': 'application/x-tar' });
    assert.notEqual(r.status, 403, 'B gets past the quota (and fails on the empty body)');
  });

  test('the admin changes a quota and it holds at once', async () => {
    const changed = await t.api.call('PATCH', '/v1/projects/alpha/quotas', { sandboxes: 0 });
    assert.equal(changed.status, 200);
    assert.equal(changed.body.quotas.sandboxes, 0);
    const r = await a.call('POST', '/v1/sandboxes', { runtime: 'bwrap' });
    assert.deepEqual([r.status, r.body.code], [403, 'quota_limit']);
    assert.equal((await a.call('PATCH', '/v1/projects/alpha/quotas', { sandboxes: 5 })).status, 403, 'a project key cannot raise its own quota');
    assert.equal((await t.api.call('PATCH', '/v1/projects/alpha/quotas', { sandboxes: 2 })).status, 200);
    assert.equal((await t.api.call('PATCH', '/v1/projects/alpha/quotas', { sandboxes: -1 })).status, 400);
  });
});

describe('a pooled sandbox counts against the project that claims it', { timeout: 5 * 60_000 }, () => {
  let t: TestServer;
  before(async () => {
    t = await startTestServer(undefined, { pools: ['runc:1'] });
  });
  after(async () => {
    await t?.close();
  });

  test('claimed from the pool, counted for its project; over quota, the pool keeps its sandbox', async () => {
    const a = await projectWithKey(t.api, 'alpha', { sandboxes: 1 });
    const ready = async () =>
      eventually('the pool is full', async () => ((await t.api.call('GET', '/v1/pools')).body.pools[0].ready === 1 ? true : undefined), 120_000);
    await ready();
    assert.equal((await t.api.call('GET', '/v1/projects/alpha')).body.usage.sandboxes, 0, 'a waiting pooled sandbox is nobody’s');
    const sb = await a.create({ runtime: 'runc' });
    assert.equal((await t.api.call('GET', '/v1/pools')).body.pools[0].hits, 1, 'it came from the pool');
    assert.equal((await t.api.call('GET', '/v1/projects/alpha')).body.usage.sandboxes, 1);
    assert.equal((await t.api.call('GET', `/v1/sandboxes/${sb.id}`)).body.id, sb.id);
    await ready();
    const over = await a.call('POST', '/v1/sandboxes', { runtime: 'runc' });
    assert.deepEqual([over.status, over.body.code], [429, 'quota_exceeded']);
    const pool = (await t.api.call('GET', '/v1/pools')).body.pools[0];
    assert.deepEqual([pool.ready, pool.hits], [1, 1], 'the refused create took nothing from the pool');
    await a.call('DELETE', `/v1/sandboxes/${sb.id}`);
  });
});

describe('per-key rate limits', { timeout: 2 * 60_000 }, () => {
  let t: TestServer;
  before(async () => {
    t = await startTestServer(undefined, { tenancy: { rate: { perSecond: 2, burst: 5 } } });
  });
  after(async () => {
    await t?.close();
  });

  test('a key over its rate gets 429 with Retry-After; another key is unaffected', async () => {
    const mk = async (name: string) => {
      const r = await t.api.call('POST', '/v1/projects/default/keys', { name, role: 'read' });
      assert.equal(r.status, 201);
      return new Api(t.api.url, r.body.key);
    };
    const flood = await mk('flood');
    const calm = await mk('calm');
    const statuses: number[] = [];
    let retryAfter: string | null = null;
    for (let i = 0; i < 8; i++) {
      const res = await fetch(`${t.api.url}/v1/sandboxes`, { headers: { authorization: `Bearer ${flood.key}` } });
      statuses.push(res.status);
      if (res.status === 429) {
        retryAfter = res.headers.get('retry-after');
        assert.equal(((await res.json()) as { code: string }).code, 'rate_limited');
      } else await res.arrayBuffer();
    }
    assert.ok(
      statuses.slice(0, 5).every((s) => s === 200),
      `the burst goes through: ${statuses}`,
    );
    assert.ok(statuses.slice(5).includes(429), `then 429: ${statuses}`);
    assert.ok(retryAfter !== null && Number(retryAfter) >= 1, 'Retry-After in seconds');
    assert.equal((await calm.call('GET', '/v1/sandboxes')).status, 200, 'another key has its own bucket');
  });
});
