/**
 * A built image leaves the server: push to a loopback registry (token auth through the stub, blobs
 * the registry has skipped, a cross-repository mount, chunked uploads) and a pull on another data
 * dir gives the same digest; `save` gives an OCI layout that imports with the same digest too.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { newDataDir, startTestServer, type TestServer } from '@airlock/testkit/harness.js';
import { build, context, startBaseRegistry, type BaseRegistry } from '@airlock/testkit/build-fixtures.js';
import { startRegistryStub, type RegistryStub } from '@airlock/testkit/registry-stub.js';
import { ContentStore } from '../content-store.js';
import { DEFAULT_PROJECT } from '../../store/store.js';
import { RegistryClient } from '../registry-client.js';
import { pushImage } from '../registry-push.js';

const SECRET = 'push-secret-that-must-not-leak';
let env: BaseRegistry;
let stub: RegistryStub;
let srv: TestServer;
let other: TestServer;
let built: any;

async function push(image: string, reference?: string): Promise<any[]> {
  const r = await srv.api.call('POST', '/v1/images/push', { image, ...(reference ? { reference } : {}) });
  assert.equal(r.status, 200, JSON.stringify(r.body));
  return r.body
    .toString()
    .split('\n')
    .filter(Boolean)
    .map((l: string) => JSON.parse(l));
}

before(async () => {
  env = await startBaseRegistry();
  stub = await startRegistryStub(env.registry.host, { auth: { username: 'ci', password: SECRET } });
  const registries = { auth: { [stub.host]: { username: 'ci', password: SECRET } }, insecure: [] };
  srv = await startTestServer(newDataDir('push'), { registries });
  other = await startTestServer(newDataDir('pull'), { registries });
  const r = await build(srv, context(`FROM ${env.base}\nRUN echo built > /built\nCOPY app.py /app/\n`, { 'app.py': 'print(1)\n' }), {
    tag: `${env.registry.host}/team/app:1`,
  });
  assert.equal(r.error, undefined, JSON.stringify(r.error));
  built = r.image;
});

after(async () => {
  await srv?.close();
  await other?.close();
  await stub?.close();
  await env?.registry.stop();
});

describe('push and save', { timeout: 600_000 }, () => {
  test('push uploads what the repository lacks, then skips it; a pull elsewhere has the same digest', async () => {
    const first = await push(built.id);
    const last = first[first.length - 1];
    assert.deepEqual(last, { type: 'pushed', reference: `${env.registry.host}/team/app:1`, digest: built.id });
    const actions = first.filter((e) => e.type === 'blob').map((e) => e.action);
    assert.equal(actions.length, 1 + built.layers.length, 'config and every layer');
    assert.ok(actions.includes('uploaded'));
    const again = await push(built.id);
    assert.ok(
      again.filter((e) => e.type === 'blob').every((e) => e.action === 'exists'),
      JSON.stringify(again),
    );
    const pulled = await other.api.call('POST', '/v1/images/pull', { reference: `${env.registry.host}/team/app:1` });
    const image = pulled.body
      .toString()
      .split('\n')
      .filter(Boolean)
      .map((l: string) => JSON.parse(l))
      .pop();
    assert.equal(image.type, 'image', JSON.stringify(image));
    assert.equal(image.image.id, built.id, 'the same digest after a round trip');
    const sb = await other.api.create({ image: built.id, runtime: 'runc' });
    const out = await other.api.exec(sb.id, { cmd: ['cat', '/built', '/app/app.py'] });
    await other.api.call('DELETE', `/v1/sandboxes/${sb.id}`);
    assert.equal(out.stdout, 'built\nprint(1)\n');
  });

  test('a push to another repository of the same registry mounts the blobs instead of sending them', async () => {
    const events = await push(built.id, `${env.registry.host}/team/copy:1`);
    const blobs = events.filter((e) => e.type === 'blob');
    assert.ok(
      blobs.every((e) => e.action === 'mounted'),
      JSON.stringify(blobs),
    );
    assert.equal(events[events.length - 1].digest, built.id);
  });

  test('a push through token auth uses the configured credentials for a Bearer token', async () => {
    const events = await push(built.id, `${stub.host}/secure/app:1`);
    assert.equal(events[events.length - 1].type, 'pushed', JSON.stringify(events[events.length - 1]));
    assert.ok(
      stub.authHeaders.some((h) => h.startsWith('Bearer ')),
      'a token was used',
    );
    assert.ok(stub.requests.some((r) => r.startsWith('PUT /v2/secure/app/manifests/1')));
  });

  test('large blobs go up in chunks (PATCH with Content-Range) and land intact', async () => {
    const content = new ContentStore(join(srv.server.config.dataDir, 'images', 'content'));
    const plain = await startRegistryStub(env.registry.host);
    try {
      const registry = new RegistryClient({ auth: {}, insecure: [] });
      const image = await srv.server.images.inspect(DEFAULT_PROJECT, built.id);
      await pushImage(registry, content, image, [], `${plain.host}/chunked/app:1`, { chunkBytes: 64 * 1024 });
      const patches = plain.requests.filter((r) => r.startsWith('PATCH '));
      assert.ok(patches.length > 1, `uploaded in ${patches.length} chunk(s)`);
      const pulled = await other.api.call('POST', '/v1/images/pull', { reference: `${env.registry.host}/chunked/app:1` });
      assert.equal(
        pulled.body
          .toString()
          .split('\n')
          .filter(Boolean)
          .map((l: string) => JSON.parse(l))
          .pop().image.id,
        built.id,
      );
    } finally {
      await plain.close();
    }
  });

  test('save gives an OCI layout tar that imports with the same digest', async () => {
    const saved = await srv.api.call('GET', `/v1/images/${encodeURIComponent(built.id)}/save`);
    assert.equal(saved.status, 200);
    const again = await srv.api.call('GET', `/v1/images/${encodeURIComponent(`${env.registry.host}/team/app:1`)}/save`);
    assert.ok(Buffer.compare(saved.body, again.body) === 0, 'saving twice gives the same bytes');
    const third = await startTestServer(newDataDir('import'));
    try {
      const imported = await third.api.call('POST', '/v1/images/import', saved.body, { 'content-type': 'application/x-tar' });
      assert.equal(imported.status, 200, JSON.stringify(imported.body));
      assert.equal(imported.body.images[0].id, built.id);
      assert.deepEqual(imported.body.images[0].references, [`${env.registry.host}/team/app:1`]);
    } finally {
      await third.close();
    }
  });
});
