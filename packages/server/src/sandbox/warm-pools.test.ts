/**
 * Warm pools with the real runtimes: a create of a pooled shape is a hit and gets a sandbox whose
 * env, labels and timeout are the request's; the pool refills; waiting sandboxes are invisible to
 * users; close and a restart after kill -9 leave nothing of them on the host.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { after, before, describe, test } from 'node:test';
import { runCommand } from '../host/command.js';
import { Api, TEST_KEY, eventually, eventuallyReads, newDataDir, recordSandbox, startTestServer, type TestServer } from '@airlock/testkit/harness.js';
import { isClean, remainsOf } from '@airlock/testkit/host-probe.js';

const poolOf = async (api: Api, runtime: string) => ((await api.call('GET', '/v1/pools')).body.pools as any[]).find((p) => p.runtime === runtime);
/** Waits for the pool to be full; a pool that never fills is reported as last seen (its lastError says why). */
const full = (api: Api, runtime: string, refills = 0) =>
  eventuallyReads(
    `a full ${runtime} pool`,
    () => poolOf(api, runtime),
    (p) => p.ready === p.size && p.refills >= refills,
  );

/** Container ids the runtime holds for this data dir: what exists on the host, whatever the API says. */
async function containers(dataDir: string, runtime: 'runc' | 'gvisor'): Promise<string[]> {
  const bin = runtime === 'runc' ? 'runc' : 'runsc';
  const r = await runCommand([bin, '--root', join(dataDir, 'runtime', runtime, 'state'), 'list', '--format', 'json']);
  const ids = ((JSON.parse(r.stdout || 'null') as { id: string }[] | null) ?? []).map((c) => c.id);
  for (const id of ids) recordSandbox(id);
  return ids;
}

describe('warm pools', { timeout: 10 * 60_000 }, () => {
  let t: TestServer;
  let dataDir: string;
  before(async () => {
    dataDir = newDataDir('pools');
    t = await startTestServer(dataDir, { pools: ['runc:2', 'gvisor:1'] });
  });
  after(async () => {
    await t?.close();
  });

  test('pools fill in the background and their sandboxes are invisible to users', async () => {
    await full(t.api, 'runc');
    await full(t.api, 'gvisor');
    const pooled = [...(await containers(dataDir, 'runc')), ...(await containers(dataDir, 'gvisor'))];
    assert.equal(pooled.length, 3, 'three started sandboxes exist on the host');
    assert.deepEqual((await t.api.call('GET', '/v1/sandboxes')).body.sandboxes, []);
    for (const id of pooled) {
      assert.equal((await t.api.call('GET', `/v1/sandboxes/${id}`)).status, 404);
      assert.equal((await t.api.call('DELETE', `/v1/sandboxes/${id}`)).status, 404);
      assert.equal((await t.api.call('POST', `/v1/sandboxes/${id}/exec`, { cmd: ['true'] })).status, 404);
    }
    const r = await t.api.call('GET', '/v1/pools');
    assert.equal(r.body.refillConcurrency, 1);
    assert.deepEqual(
      r.body.pools.map((p: any) => [p.runtime, p.image, p.size, p.hits, p.misses]),
      [
        ['runc', 'default', 2, 0, 0],
        ['gvisor', 'default', 1, 0, 0],
      ],
    );
  });

  for (const runtime of ['runc', 'gvisor'] as const) {
    test(`${runtime}: a create of the pooled shape is a hit, late-binds env, labels and timeout, and the pool refills`, async () => {
      const before = await full(t.api, runtime);
      const waiting = await containers(dataDir, runtime);
      const sb = await t.api.create({ runtime, env: { LATE: 'bound-1' }, metadata: { job: 'j1' }, timeout: 120 });
      assert.ok(waiting.includes(sb.id), 'the sandbox handed out is one that was waiting');
      const after1 = await poolOf(t.api, runtime);
      assert.deepEqual([after1.hits, after1.misses], [before.hits + 1, before.misses]);
      assert.deepEqual(sb.metadata, { job: 'j1' });
      assert.deepEqual(sb.envKeys, ['LATE']);
      assert.equal(sb.timeout, 120);
      assert.ok(sb.expiresAt && Date.parse(sb.expiresAt) > Date.now(), 'expiry counts from the hand-out');
      const r = await t.api.exec(sb.id, { cmd: 'echo "$LATE"; ls -A /tmp /home/user' });
      assert.equal(r.stdout, 'bound-1\n/home/user:\n\n/tmp:\n', "env is the request's and nothing was left in the sandbox");
      const listed = (await t.api.call('GET', '/v1/sandboxes?label=job=j1')).body.sandboxes;
      assert.deepEqual(
        listed.map((s: any) => s.id),
        [sb.id],
      );
      await full(t.api, runtime, before.refills + 1);
      assert.equal((await t.api.call('DELETE', `/v1/sandboxes/${sb.id}`)).status, 200);
      await eventually('a handed-out sandbox to be destroyed like any other', () => (isClean(remainsOf(sb.id, dataDir)) ? true : undefined));
    });
  }

  test('another shape is not served from the pool and is not counted', async () => {
    const before = await poolOf(t.api, 'runc');
    const sb = await t.api.create({ runtime: 'runc', memoryMiB: 256 });
    const after1 = await poolOf(t.api, 'runc');
    assert.deepEqual([after1.hits, after1.misses], [before.hits, before.misses]);
    assert.equal((await t.api.call('DELETE', `/v1/sandboxes/${sb.id}`)).status, 200);
  });

  test('an empty pool is a miss and the create still succeeds', async () => {
    await full(t.api, 'runc');
    const before = await poolOf(t.api, 'runc');
    // Three creates at once against two waiting sandboxes: at least one must miss.
    const made = await Promise.all([1, 2, 3].map(() => t.api.create({ runtime: 'runc' })));
    const after1 = await poolOf(t.api, 'runc');
    assert.equal(after1.hits - before.hits + (after1.misses - before.misses), 3);
    assert.ok(after1.misses > before.misses, 'a miss is counted');
    assert.equal(new Set(made.map((s) => s.id)).size, 3, 'no sandbox was handed out twice');
    for (const s of made) await t.api.call('DELETE', `/v1/sandboxes/${s.id}`);
  });

  test('a pooled sandbox that dies while waiting is removed and replaced', async () => {
    const before = await full(t.api, 'runc');
    const waiting = await containers(dataDir, 'runc');
    const victim = waiting[0]!;
    await runCommand(['runc', '--root', join(dataDir, 'runtime', 'runc', 'state'), 'kill', victim, 'KILL']);
    await eventually('the dead pooled sandbox to be gone', () => (isClean(remainsOf(victim, dataDir)) ? true : undefined));
    await full(t.api, 'runc', before.refills + 1);
    const sb = await t.api.create({ runtime: 'runc' });
    assert.notEqual(sb.id, victim, 'the dead one is never handed out');
    assert.equal((await t.api.exec(sb.id, { cmd: ['true'] })).exitCode, 0);
    await t.api.call('DELETE', `/v1/sandboxes/${sb.id}`);
  });

  test('close destroys the waiting sandboxes', async () => {
    const other = newDataDir('pools-close');
    const s = await startTestServer(other, { pools: ['runc:1', 'gvisor:1'] });
    let pooled: string[] = [];
    try {
      await full(s.api, 'runc');
      await full(s.api, 'gvisor');
      pooled = [...(await containers(other, 'runc')), ...(await containers(other, 'gvisor'))];
      assert.equal(pooled.length, 2);
      assert.ok(!isClean(remainsOf(pooled[0]!, other)), 'positive control: a pooled sandbox is on the host');
    } finally {
      await s.close();
    }
    for (const id of pooled) assert.ok(isClean(remainsOf(id, other)), `${id} left nothing`);
  });
});

test('at the sandbox limit a create takes the place of a waiting sandbox, and the pool waits for room', { timeout: 10 * 60_000 }, async () => {
  const dataDir = newDataDir('pools-capacity');
  const t = await startTestServer(dataDir, { pools: ['gvisor:2'], maxSandboxes: 2 });
  try {
    await full(t.api, 'gvisor');
    const pooled = await containers(dataDir, 'gvisor');
    const a = await t.api.create({ runtime: 'runc' });
    const b = await t.api.create({ runtime: 'runc' });
    for (const id of pooled) await eventually(`${id} to make room`, () => (isClean(remainsOf(id, dataDir)) ? true : undefined));
    const refused = await t.api.call('POST', '/v1/sandboxes', { runtime: 'runc' });
    assert.deepEqual([refused.status, refused.body.code], [429, 'capacity'], 'with no waiting sandbox left, the limit holds');
    const p = await poolOf(t.api, 'gvisor');
    assert.equal(p.ready, 0);
    assert.match(p.lastError, /limit/);
    for (const s of [a, b]) await t.api.call('DELETE', `/v1/sandboxes/${s.id}`);
    await full(t.api, 'gvisor');
  } finally {
    await t.close();
  }
});

test('kill -9 with a full pool: the next start destroys the pooled sandboxes of the old run', { timeout: 10 * 60_000 }, async () => {
  const dataDir = newDataDir('pools-crash');
  const server = fileURLToPath(import.meta.resolve('@airlock/testkit/server-process.js'));
  const start = async (pools: string) => {
    const child = spawn(process.execPath, [server, dataDir], { stdio: ['ignore', 'pipe', 'inherit'], env: { ...process.env, AIRLOCK_POOLS: pools } });
    const url = await new Promise<string>((resolve, reject) => {
      createInterface({ input: child.stdout! }).on('line', (l) => l.startsWith('AIRLOCK_TEST_URL=') && resolve(l.slice('AIRLOCK_TEST_URL='.length)));
      child.once('exit', (code) => reject(new Error(`server exited with ${code}`)));
    });
    return { child, api: new Api(url, TEST_KEY) };
  };
  const first = await start('runc:1');
  let pooled: string[];
  try {
    await full(first.api, 'runc');
    pooled = await containers(dataDir, 'runc');
    assert.equal(pooled.length, 1);
  } finally {
    first.child.kill('SIGKILL');
    await new Promise((r) => first.child.once('exit', r));
  }
  assert.ok(!isClean(remainsOf(pooled[0]!, dataDir)), 'positive control: the pooled sandbox outlived the server');
  const second = await start('');
  try {
    assert.deepEqual((await second.api.call('GET', '/v1/sandboxes')).body.sandboxes, []);
    assert.ok(isClean(remainsOf(pooled[0]!, dataDir)), 'the pooled sandbox of the old run is gone');
  } finally {
    second.child.kill('SIGTERM');
    await new Promise((r) => second.child.once('exit', r));
  }
});
