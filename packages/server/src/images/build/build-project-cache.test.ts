/**
 * The build step cache is each project's own: a project that repeats another project's Dockerfile
 * step on the same base runs it itself and never gets the other's layer (whose RUN output may hold
 * what that project fetched at build time). The same project's rebuild is the positive control: it
 * does hit the cache.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { Api, newDataDir, startTestServer, type TestServer, projectWithKey } from '@airlock/testkit/harness.js';
import { build, context, layerEvents, startBaseRegistry, type BaseRegistry } from '@airlock/testkit/build-fixtures.js';

let env: BaseRegistry;
let srv: TestServer;
let alpha: Api;
let beta: Api;

/** The test server seen through one project's key (the build fixture sends `srv.api.key`). */
const as = (api: Api): TestServer => ({ ...srv, api }) as TestServer;

before(async () => {
  env = await startBaseRegistry();
  srv = await startTestServer(newDataDir('build-project-cache'));
  alpha = await projectWithKey(srv.api, 'alpha');
  beta = await projectWithKey(srv.api, 'beta');
});

after(async () => {
  await srv?.close();
  await env?.registry.stop();
});

describe('build step cache per project', { timeout: 900_000 }, () => {
  test("a project repeating another project's RUN step runs it itself; its own rebuild hits the cache", async () => {
    const dockerfile = `FROM ${env.base}\nRUN head -c 16 /dev/urandom | od -An -tx1 > /secret\n`;
    const a1 = await build(as(alpha), context(dockerfile), { tag: 'app:1' });
    assert.equal(a1.error, undefined, JSON.stringify(a1.error));
    const a2 = await build(as(alpha), context(dockerfile), { tag: 'app:1' });
    assert.equal(a2.error, undefined, JSON.stringify(a2.error));
    assert.deepEqual(
      layerEvents(a2).map((l) => l.cached),
      [true],
      'positive control: the same project rebuilding hits its cache',
    );
    const b1 = await build(as(beta), context(dockerfile), { tag: 'app:1' });
    assert.equal(b1.error, undefined, JSON.stringify(b1.error));
    assert.deepEqual(
      layerEvents(b1).map((l) => l.cached),
      [false],
      "beta's step must not come from alpha's cache",
    );
    assert.notEqual(b1.image.id, a1.image.id, "beta's RUN made its own layer");
  });
});
