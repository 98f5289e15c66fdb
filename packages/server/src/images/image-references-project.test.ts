/**
 * Image references per project (issue #12): one shared content store, a namespace of tags per
 * project. One project building, pulling or using a tag another project also has never repoints,
 * shows or removes the other's; each check has the other project (or the same one) as its positive
 * control, and is judged where it lands: what a project's API answers, what a sandbox runs.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { Api, newDataDir, startTestServer, type TestServer, projectWithKey } from '@airlock/testkit/harness.js';
import { build, context, startBaseRegistry, type BaseRegistry } from '@airlock/testkit/build-fixtures.js';

let env: BaseRegistry;
let srv: TestServer;
let alpha: Api;
let beta: Api;
/** The image each project built as myapp:latest. */
const built: { alpha?: string; beta?: string } = {};

const as = (api: Api): TestServer => ({ ...srv, api }) as TestServer;
const TAG = 'docker.io/library/myapp:latest';
const path = (ref: string) => `/v1/images/${encodeURIComponent(ref)}`;

before(async () => {
  env = await startBaseRegistry();
  srv = await startTestServer(newDataDir('imgref'));
  alpha = await projectWithKey(srv.api, 'alpha');
  beta = await projectWithKey(srv.api, 'beta');
});

after(async () => {
  await srv?.close();
  await env?.registry.stop();
});

describe('image references per project', { timeout: 900_000 }, () => {
  test("alpha building beta's tag leaves beta's tag on beta's image", async () => {
    const b = await build(as(beta), context(`FROM ${env.base}\nRUN echo beta > /who\n`), { tag: 'myapp:latest' });
    assert.equal(b.error, undefined, JSON.stringify(b.error));
    built.beta = b.image.id;
    const before = await beta.call('GET', path('myapp:latest'));
    assert.equal(before.status, 200, 'positive control: beta sees its own tag');
    assert.equal(before.body.id, b.image.id);
    const a = await build(as(alpha), context(`FROM ${env.base}\nRUN echo alpha > /who\n`), { tag: 'myapp:latest' });
    assert.equal(a.error, undefined, JSON.stringify(a.error));
    built.alpha = a.image.id;
    assert.notEqual(a.image.id, b.image.id);
    const afterA = await beta.call('GET', path('myapp:latest'));
    assert.equal(afterA.status, 200, `beta's tag still resolves for beta: ${JSON.stringify(afterA.body)}`);
    assert.equal(afterA.body.id, b.image.id, "beta's tag still names beta's image");
    assert.equal((await alpha.call('GET', path('myapp:latest'))).body.id, a.image.id, "alpha's names alpha's");
  });

  test('a project lists its own images with its own references only', async () => {
    const mine = async (api: Api) => new Map(((await api.call('GET', '/v1/images')).body.images as any[]).map((i) => [i.id, i.references]));
    const a = await mine(alpha);
    const b = await mine(beta);
    assert.deepEqual(a.get(built.alpha!), [TAG], 'positive control: alpha lists its image under its tag');
    assert.equal(a.has(built.beta!), false, "beta's image is not in alpha's list");
    assert.deepEqual(b.get(built.beta!), [TAG]);
    assert.equal(b.has(built.alpha!), false);
    // The base both builds pulled: one image, listed by each with its own reference.
    const base = (await alpha.call('GET', path(env.base))).body.id;
    assert.deepEqual(a.get(base), [env.base]);
    assert.deepEqual(b.get(base), [env.base]);
  });

  test("a create in a project runs that project's image for the tag", async () => {
    for (const [api, who] of [
      [alpha, 'alpha'],
      [beta, 'beta'],
    ] as const) {
      const sb = await api.create({ image: 'myapp:latest', runtime: 'runc' });
      try {
        assert.equal(sb.imageId, built[who], `${who}'s create resolved ${who}'s tag`);
        const r = await api.exec(sb.id, { cmd: ['cat', '/who'] });
        assert.equal(r.stdout.trim(), who);
      } finally {
        assert.equal((await api.call('DELETE', `/v1/sandboxes/${sb.id}`)).status, 200);
      }
    }
  });

  test('alpha pulling the reference beta pulled gets a reference of its own', async () => {
    const pull = async (api: Api) => {
      const r = await api.call('POST', '/v1/images/pull', { reference: env.base });
      const lines = r.body
        .toString()
        .trim()
        .split('\n')
        .map((l: string) => JSON.parse(l));
      const last = lines.at(-1);
      assert.equal(last.type, 'image', JSON.stringify(last));
      return last.image;
    };
    const b = await pull(beta);
    const a = await pull(alpha);
    assert.equal(a.id, b.id, 'one shared image');
    assert.deepEqual(a.references, [env.base]);
    assert.equal((await beta.call('DELETE', path(env.base))).status, 200);
    assert.equal((await beta.call('GET', path(env.base))).status, 422, "beta's reference is gone");
    const still = await alpha.call('GET', path(env.base));
    assert.equal(still.status, 200, "alpha's reference stays");
    assert.equal(still.body.id, a.id);
    assert.deepEqual(still.body.references, [env.base]);
  });

  test("beta removing its tag leaves alpha's, and beta's image, which nobody else holds, goes", async () => {
    const removed = await beta.call('DELETE', path('myapp:latest'));
    assert.equal(removed.status, 200, JSON.stringify(removed.body));
    assert.equal(removed.body.id, built.beta);
    assert.equal((await beta.call('GET', path('myapp:latest'))).status, 422);
    const a = await alpha.call('GET', path('myapp:latest'));
    assert.equal(a.status, 200, "alpha's tag stays");
    assert.equal(a.body.id, built.alpha);
    assert.equal((await srv.api.call('GET', path(built.beta!))).status, 422, "beta's image left the store");
    assert.equal((await srv.api.call('GET', path(built.alpha!))).status, 200, "positive control: the admin sees alpha's by id");
  });
});
