import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Airlock } from './client.js';
import { AirlockError, AuthenticationError, ConnectionError, InvalidRequestError, NotFoundError } from './errors.js';
import { FakeFetch, INFO, jsonResponse } from './fake-fetch.js';
import { buildCreateRequest, buildListQuery } from './sandboxes.js';

const URL = 'http://airlock.test:7070';

function client(fake: FakeFetch, timeoutMs?: number): Airlock {
  return new Airlock({ url: `${URL}/`, apiKey: 'k3y', fetch: fake.fetch, ...(timeoutMs ? { timeoutMs } : {}) });
}

describe('request builders', { timeout: 60_000 }, () => {
  it('drops the signal from the create body', () => {
    const body = buildCreateRequest({ memoryMiB: 256, timeout: null, signal: new AbortController().signal });
    assert.deepEqual(body, { memoryMiB: 256, timeout: null });
  });

  it('turns labels into repeated label=k=v', () => {
    assert.deepEqual(buildListQuery({ state: 'running', labels: { a: '1', b: '2' } }), {
      state: 'running',
      label: ['a=1', 'b=2'],
    });
    assert.deepEqual(buildListQuery(), { state: undefined, label: undefined });
  });
});

describe('SandboxService', { timeout: 60_000 }, () => {
  it('creates with a JSON body and Bearer auth', async () => {
    const fake = new FakeFetch().expect('POST', `${URL}/v1/sandboxes`, () => jsonResponse(201, INFO));
    const sb = await client(fake).sandboxes.create({ image: 'default', memoryMiB: 512, metadata: { team: 'ml' } });
    fake.assertExhausted();
    const [req] = fake.requests;
    assert.equal(req?.headers['authorization'], 'Bearer k3y');
    assert.equal(req?.headers['content-type'], 'application/json');
    assert.deepEqual(req?.json(), { image: 'default', memoryMiB: 512, metadata: { team: 'ml' } });
    assert.equal(sb.id, INFO.id);
    assert.equal(sb.state, 'running');
    assert.deepEqual(sb.info, INFO);
  });

  it('lists with state and repeated labels in the query', async () => {
    const fake = new FakeFetch().expect('GET', `${URL}/v1/sandboxes?state=running&label=a%3D1&label=b%3Dx+y`, () => jsonResponse(200, { sandboxes: [INFO] }));
    const list = await client(fake).sandboxes.list({ state: 'running', labels: { a: '1', b: 'x y' } });
    fake.assertExhausted();
    assert.equal(list.length, 1);
    assert.equal(list[0]?.id, INFO.id);
  });

  it('gets and destroys by id, escaping it in the path', async () => {
    const fake = new FakeFetch()
      .expect('GET', `${URL}/v1/sandboxes/sb-1`, () => jsonResponse(200, INFO))
      .expect('DELETE', `${URL}/v1/sandboxes/a%2Fb`, () => jsonResponse(200, { ...INFO, state: 'destroyed' }));
    const airlock = client(fake);
    await airlock.sandboxes.get('sb-1');
    await airlock.sandboxes.destroy('a/b');
    fake.assertExhausted();
    assert.equal(fake.requests[1]?.body, undefined);
  });

  it('maps error bodies to typed errors', async () => {
    const fake = new FakeFetch()
      .expect('GET', `${URL}/v1/sandboxes/sb-x`, () => jsonResponse(404, { code: 'not_found', message: 'no sandbox sb-x' }))
      .expect('POST', `${URL}/v1/sandboxes`, () =>
        jsonResponse(400, { code: 'invalid_request', message: 'bad', issues: [{ path: 'cpu', message: 'too big' }] }),
      )
      .expect('GET', `${URL}/v1/sandboxes`, () => jsonResponse(401, { code: 'unauthenticated', message: 'wrong key' }))
      .expect('GET', `${URL}/v1/sandboxes`, () => new Response('<html>bad gateway</html>', { status: 502 }));
    const airlock = client(fake);
    await assert.rejects(airlock.sandboxes.get('sb-x'), (e) => e instanceof NotFoundError && e.status === 404);
    await assert.rejects(airlock.sandboxes.create({ cpu: 1000 }), (e) => e instanceof InvalidRequestError && e.issues?.[0]?.path === 'cpu');
    await assert.rejects(airlock.sandboxes.list(), AuthenticationError);
    await assert.rejects(airlock.sandboxes.list(), (e) => e instanceof AirlockError && e.code === 'internal' && e.status === 502 && /HTTP 502/.test(e.message));
    fake.assertExhausted();
  });

  it('turns a network failure into a ConnectionError naming the URL', async () => {
    const refused = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:7070'), { code: 'ECONNREFUSED' });
    const fake = new FakeFetch().expect('GET', `${URL}/v1/sandboxes`, () => {
      throw new TypeError('fetch failed', { cause: refused });
    });
    await assert.rejects(
      client(fake).sandboxes.list(),
      (e) => e instanceof ConnectionError && e.code === 'connection' && e.status === undefined && e.message.includes(URL) && e.message.includes('ECONNREFUSED'),
    );
  });

  it('applies timeoutMs as a deadline', async () => {
    const fake = new FakeFetch().expect(
      'GET',
      `${URL}/v1/sandboxes`,
      (req) =>
        new Promise<Response>((_, reject) => {
          // AbortSignal.timeout does not keep the process alive; a real socket would.
          const keepAlive = setTimeout(() => reject(new Error('deadline not applied')), 5000);
          req.signal?.addEventListener('abort', () => {
            clearTimeout(keepAlive);
            reject(req.signal?.reason);
          });
        }),
    );
    await assert.rejects(client(fake, 20).sandboxes.list(), (e) => e instanceof ConnectionError && /timed out after 20 ms/.test(e.message));
  });

  it('passes the caller abort through unchanged', async () => {
    const controller = new AbortController();
    controller.abort();
    const fake = new FakeFetch().expect('GET', `${URL}/v1/sandboxes/sb-1`, () => jsonResponse(200, INFO));
    await assert.rejects(client(fake).sandboxes.get('sb-1', { signal: controller.signal }), { name: 'AbortError' });
  });

  it('throws on a call it did not expect', async () => {
    const fake = new FakeFetch();
    await assert.rejects(client(fake).sandboxes.list(), /Unexpected fetch: GET/);
  });
});
