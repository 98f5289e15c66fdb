/**
 * OCI images end to end, against a real registry on loopback (docker-registry), real btrfs, and
 * every runtime this host offers: pull with progress, whiteouts and opaque directories, platform
 * selection from an index, token auth, corrupt and truncated blobs, disk limits, isolation of two
 * sandboxes from one image, removal rules and import. The store's own limits (budget, a full
 * volume, the import size, orphaned root filesystems) are in store-limits.test.ts.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { spawnSync } from 'node:child_process';
import {
  buildImage,
  pushImage,
  pushIndex,
  readPythonRootfsTar,
  startRegistry,
  tarOf,
  sha256,
  writeOciLayout,
  type Registry,
} from '@airlock/testkit/image-fixtures.js';
import { newDataDir, startTestServer, testRoot, type TestServer } from '@airlock/testkit/harness.js';
import { startRegistryStub, type RegistryStub } from '@airlock/testkit/registry-stub.js';

const SECRET = 'pw-that-must-not-leak-7f3a';

let registry: Registry;
let good: RegistryStub; // token auth, right credentials configured
let wrong: RegistryStub; // token auth, wrong credentials configured
let noCreds: RegistryStub; // token auth, nothing configured
let corrupt: RegistryStub; // flips or truncates chosen blobs
let srv: TestServer;
let runtimes: string[] = [];
let bwrapAvailable = false;
let py: string; // reference of the multi-layer python image
let pyDigest: string;
let corruptLayer = '';
let truncatedLayer = '';
const corruptSet = new Set<string>();
const truncateSet = new Set<string>();

async function pullStream(reference: string): Promise<{ status: number; events: any[] }> {
  const r = await srv.api.call('POST', '/v1/images/pull', { reference });
  if (r.status !== 200) return { status: r.status, events: [r.body] };
  return {
    status: r.status,
    events: r.body
      .toString()
      .split('\n')
      .filter(Boolean)
      .map((l: string) => JSON.parse(l)),
  };
}

async function pull(reference: string): Promise<any> {
  const { events } = await pullStream(reference);
  const last = events[events.length - 1];
  assert.equal(last.type, 'image', `pull of ${reference}: ${JSON.stringify(last)}`);
  return last.image;
}

before(async () => {
  const dir = mkdtempSync(join(testRoot(), 'registry-'));
  registry = await startRegistry(dir);
  good = await startRegistryStub(registry.host, { auth: { username: 'ci', password: SECRET } });
  wrong = await startRegistryStub(registry.host, { auth: { username: 'ci', password: 'the-right-one' } });
  noCreds = await startRegistryStub(registry.host, { auth: { username: 'ci', password: SECRET } });
  corrupt = await startRegistryStub(registry.host, { corrupt: corruptSet, truncate: truncateSet });

  const base = readPythonRootfsTar();
  const data = await tarOf([
    { name: 'data/', type: 'directory' },
    { name: 'data/gone', body: 'removed by a whiteout' },
    { name: 'data/kept', body: 'kept' },
    { name: 'data/opaque/', type: 'directory' },
    { name: 'data/opaque/lower', body: 'hidden by the opaque marker' },
  ]);
  const top = await tarOf([{ name: 'data/.wh.gone' }, { name: 'data/opaque/.wh..wh..opq' }, { name: 'data/opaque/upper', body: 'upper' }]);
  const pushed = await pushImage(registry.host, 'sandbox/py', '1', [base, data, top], {
    cmd: ['python3', '-c', 'import os; print("default", os.getcwd(), os.environ["FROM_IMAGE"])'],
    workingDir: '/data',
    env: ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', 'FROM_IMAGE=yes'],
  });
  py = `${registry.host}/sandbox/py:1`;
  pyDigest = pushed.digest;

  // Two small layers on the same base for the corrupt/truncated probes.
  const bad1 = await pushImage(registry.host, 'sandbox/bad', 'corrupt', [base, await tarOf([{ name: 'c', body: 'corrupt me' }])]);
  corruptLayer = (bad1.image.manifest as any).layers[1].digest;
  corruptSet.add(corruptLayer);
  const bad2 = await pushImage(registry.host, 'sandbox/bad', 'truncated', [base, await tarOf([{ name: 't', body: 'x'.repeat(200_000) }])]);
  truncatedLayer = (bad2.image.manifest as any).layers[1].digest;
  truncateSet.add(truncatedLayer);

  srv = await startTestServer(newDataDir(), {
    registries: {
      auth: { [good.host]: { username: 'ci', password: SECRET }, [wrong.host]: { username: 'ci', password: SECRET } },
      insecure: [],
    },
  });
  const health = await srv.api.call('GET', '/v1/health');
  const available: string[] = health.body.runtimes.filter((r: any) => r.available).map((r: any) => r.name);
  // bwrap runs only the default image (its sandbox has no root to own a writable rootfs).
  // Runtimes that run pulled images (bwrap and the microVM run the default image only).
  runtimes = available.filter((r) => r !== 'bwrap' && r !== 'microvm');
  bwrapAvailable = available.includes('bwrap');
});

after(async () => {
  await srv?.close();
  for (const s of [good, wrong, noCreds, corrupt]) await s?.close();
  await registry?.stop();
});

describe('images', { timeout: 10 * 60_000 }, () => {
  test('pull streams progress and records a multi-layer image with its config', async () => {
    const { status, events } = await pullStream(py);
    assert.equal(status, 200);
    const progress = events.filter((e) => e.type === 'progress');
    assert.ok(
      progress.some((e) => e.phase === 'downloading'),
      'download progress reported',
    );
    const done = progress[progress.length - 1];
    assert.deepEqual([done.phase, done.layersDone, done.layersTotal], ['done', 3, 3]);
    assert.equal(done.bytesDone, done.bytesTotal);
    const image = events[events.length - 1].image;
    assert.equal(image.id, pyDigest);
    assert.deepEqual(image.references, [`${registry.host}/sandbox/py:1`]);
    assert.equal(image.config.workingDir, '/data');
    const listed = await srv.api.call('GET', '/v1/images');
    assert.ok(listed.body.images.some((i: any) => i.id === pyDigest));
    const byRef = await srv.api.call('GET', `/v1/images/${encodeURIComponent(py)}`);
    assert.equal(byRef.body.id, pyDigest);
  });

  test('a sandbox from the image runs on every runtime: whiteouts applied, config honoured, python works', async () => {
    assert.ok(runtimes.length > 0, 'some runtime is available');
    for (const runtime of runtimes) {
      const sb = await srv.api.create({ image: py, runtime });
      assert.equal(sb.imageId, pyDigest);
      const r = await srv.api.exec(sb.id, { cmd: 'ls /data; ls /data/opaque; python3 -c "print(6*7)"' });
      assert.equal(r.stdout, 'kept\nopaque\nupper\n42\n', runtime);
      const d = await srv.api.exec(sb.id, {});
      assert.equal(d.stdout, 'default /data yes\n', `${runtime}: Cmd, WorkingDir and Env from the image`);
      await srv.api.call('DELETE', `/v1/sandboxes/${sb.id}`);
    }
  });

  test('the disk limit stops writes at about its size inside, on every runtime', async () => {
    for (const runtime of runtimes) {
      const sb = await srv.api.create({ image: py, runtime, diskMiB: 64 });
      const r = await srv.api.exec(sb.id, { cmd: 'dd if=/dev/zero of=/fill bs=1M count=200 2>&1; stat -c %s /fill' });
      assert.match(r.stdout, /Disk quota exceeded|No space left on device/, `${runtime}: ${r.stdout}`);
      const written = Number(r.stdout.trim().split('\n').pop()) / 2 ** 20;
      assert.ok(written > 48 && written <= 66, `${runtime}: wrote ${written} MiB against a 64 MiB limit`);
      // The limit is per sandbox: after deleting the file the sandbox can write again.
      const again = await srv.api.exec(sb.id, { cmd: 'rm /fill && sync && dd if=/dev/zero of=/small bs=1M count=8 2>&1 | tail -1' });
      assert.match(again.stdout, /8388608 bytes/);
      await srv.api.call('DELETE', `/v1/sandboxes/${sb.id}`);
    }
  });

  test('two sandboxes from one image do not see each other’s writes', async () => {
    const runtime = runtimes[0]!;
    const a = await srv.api.create({ image: py, runtime });
    const b = await srv.api.create({ image: py, runtime });
    try {
      await srv.api.exec(a.id, { cmd: 'echo mine > /data/kept && echo new > /etc/only-a' });
      const r = await srv.api.exec(b.id, { cmd: 'cat /data/kept; echo; ls /etc/only-a 2>&1 || true' });
      assert.match(r.stdout, /^kept\n.*No such file/s);
      const c = await srv.api.exec(a.id, { cmd: 'cat /data/kept' });
      assert.equal(c.stdout, 'mine\n', 'control: the write did land in its own sandbox');
    } finally {
      for (const s of [a, b]) await srv.api.call('DELETE', `/v1/sandboxes/${s.id}`);
    }
  });

  test('an index resolves to the host platform', async () => {
    const arm = await pushImage(registry.host, 'sandbox/multi', 'arm', [await tarOf([{ name: 'platform', body: 'arm64' }])], { architecture: 'arm64' });
    const amd = await pushImage(registry.host, 'sandbox/multi', 'amd', [await tarOf([{ name: 'platform', body: 'amd64' }])], { architecture: 'amd64' });
    await pushIndex(registry.host, 'sandbox/multi', 'both', [
      { digest: arm.digest, size: arm.size, architecture: 'arm64' },
      { digest: amd.digest, size: amd.size, architecture: 'amd64' },
    ]);
    const image = await pull(`${registry.host}/sandbox/multi:both`);
    assert.equal(image.id, amd.digest);
    assert.equal(image.config.architecture, 'amd64');
  });

  test('token auth: configured credentials work, wrong or missing ones are refused without leaking', async () => {
    const ok = await pull(`${good.host}/sandbox/py:1`);
    assert.equal(ok.id, pyDigest);
    assert.ok(
      good.authHeaders.some((h) => h.startsWith('Bearer ')),
      'the token flow ran',
    );
    for (const stub of [wrong, noCreds]) {
      const { events } = await pullStream(`${stub.host}/sandbox/py:1`);
      const last = events[events.length - 1];
      assert.equal(last.code, 'registry_denied', JSON.stringify(last));
      assert.ok(last.message.includes(stub.host));
      assert.ok(!last.message.includes(SECRET), 'the password is not echoed');
    }
    assert.ok(!noCreds.authHeaders.some((h) => h.startsWith('Basic ')), 'no credentials travel to a registry they are not configured for');
  });

  test('a corrupt or truncated blob fails the pull and leaves nothing behind', async () => {
    const content = join(srv.server.config.dataDir, 'images', 'content');
    for (const [tag, digest] of [
      ['corrupt', corruptLayer],
      ['truncated', truncatedLayer],
    ] as const) {
      const { events } = await pullStream(`${corrupt.host}/sandbox/bad:${tag}`);
      const last = events[events.length - 1];
      assert.ok(['image_invalid', 'registry_unavailable'].includes(last.code), `${tag}: ${JSON.stringify(last)}`);
      if (tag === 'corrupt') assert.match(last.message, /digest/);
      assert.ok((corrupt.blobGets.get(digest) ?? 0) >= 1, 'control: the bad blob was served');
      assert.equal(existsSync(join(content, 'blobs', 'sha256', digest.slice(7))), false, `${tag}: no blob under its digest`);
      assert.deepEqual(readdirSync(join(content, 'ingest')), [], `${tag}: no partial download`);
    }
    const listed = await srv.api.call('GET', '/v1/images');
    assert.ok(!listed.body.images.some((i: any) => i.repository.endsWith('sandbox/bad')));
  });

  test('a runtime that cannot run pulled images says so with a 400, before pulling', async (t) => {
    if (!bwrapAvailable) return t.skip('bwrap is not available on this host');
    const r = await srv.api.call('POST', '/v1/sandboxes', { image: py, runtime: 'bwrap' });
    assert.deepEqual([r.status, r.body.code], [400, 'invalid_request']);
    assert.match(r.body.message, /only the default image/);
  });

  test('unknown tags and unreachable registries give clear errors', async () => {
    const missing = await pullStream(`${registry.host}/sandbox/py:nope`);
    const m = missing.events[missing.events.length - 1];
    assert.equal(m.code, 'image_not_found');
    assert.ok(m.message.includes('sandbox/py:nope'));
    const gone = await srv.api.call('POST', '/v1/sandboxes', { image: '127.0.0.1:1/x:1' });
    assert.equal(gone.status, 502);
    assert.equal(gone.body.code, 'registry_unavailable');
    assert.match(gone.body.message, /127\.0\.0\.1:1.*retry/);
    const bad = await srv.api.call('POST', '/v1/images/pull', { reference: 'UPPER/case' });
    assert.equal(bad.status, 400);
  });

  test('concurrent pulls of one image share one download', async () => {
    const img = await pushImage(registry.host, 'sandbox/shared', '1', [await tarOf([{ name: 'big', body: 'y'.repeat(3_000_000) }])]);
    const layer = (img.image.manifest as any).layers[0].digest;
    const ref = `${good.host}/sandbox/shared:1`;
    const [a, b] = await Promise.all([pull(ref), pull(ref)]);
    assert.equal(a.id, b.id);
    assert.equal(good.blobGets.get(layer), 1);
  });

  test('an image in use cannot be removed; prune removes unused ones', async () => {
    const sb = await srv.api.create({ image: py, runtime: runtimes[0] });
    const refused = await srv.api.call('DELETE', `/v1/images/${encodeURIComponent(py)}`);
    assert.equal(refused.status, 409);
    assert.match(refused.body.message, new RegExp(sb.id));
    await srv.api.call('DELETE', `/v1/sandboxes/${sb.id}`);
    const removed = await srv.api.call('DELETE', `/v1/images/${encodeURIComponent(pyDigest)}`);
    assert.equal(removed.status, 200);
    assert.equal((await srv.api.call('GET', `/v1/images/${encodeURIComponent(py)}`)).status, 422);
    const pruned = await srv.api.call('POST', '/v1/images/prune');
    assert.equal(pruned.status, 200);
    assert.equal((await srv.api.call('GET', '/v1/images')).body.images.length, 0);
    // The default image needs no record, and a prune does not take its layer from it.
    const after = await srv.api.create({ runtime: runtimes[0] });
    assert.equal((await srv.api.exec(after.id, { cmd: 'echo ok > /tmp/x && cat /tmp/x' })).stdout, 'ok\n');
    await srv.api.call('DELETE', `/v1/sandboxes/${after.id}`);
  });

  test('import: a docker save archive runs like a pulled image', async () => {
    const layer = await tarOf([{ name: 'hello.txt', body: 'imported\n' }]);
    const base = readPythonRootfsTar();
    const config = Buffer.from(
      JSON.stringify({
        architecture: 'amd64',
        os: 'linux',
        config: { Env: ['PATH=/usr/bin:/bin'] },
        rootfs: { type: 'layers', diff_ids: [sha256(base), sha256(layer)] },
      }),
    );
    const archive = await tarOf([
      { name: 'manifest.json', body: JSON.stringify([{ Config: 'config.json', RepoTags: ['offline/tool:1'], Layers: ['base/layer.tar', 'top/layer.tar'] }]) },
      { name: 'config.json', body: config },
      { name: 'base/', type: 'directory' },
      { name: 'base/layer.tar', body: base },
      { name: 'top/', type: 'directory' },
      { name: 'top/layer.tar', body: layer },
    ]);
    const r = await srv.api.call('POST', '/v1/images/import', archive, { 'content-type': 'application/x-tar' });
    assert.equal(r.status, 200, JSON.stringify(r.body));
    assert.deepEqual(r.body.images[0].references, ['docker.io/offline/tool:1']);
    const sb = await srv.api.create({ image: 'offline/tool:1', runtime: runtimes[0] });
    assert.equal((await srv.api.exec(sb.id, { cmd: 'cat /hello.txt' })).stdout, 'imported\n');
    await srv.api.call('DELETE', `/v1/sandboxes/${sb.id}`);
    const junk = await srv.api.call('POST', '/v1/images/import', Buffer.from('not a tar'), { 'content-type': 'application/x-tar' });
    assert.equal(junk.status, 422);
  });

  test('the image’s User is the default user of execs', async () => {
    await pushImage(registry.host, 'sandbox/user', '1', [readPythonRootfsTar()], { user: 'nobody', workingDir: '/tmp' });
    const sb = await srv.api.create({ image: `${registry.host}/sandbox/user:1`, runtime: runtimes[0] });
    try {
      assert.equal((await srv.api.exec(sb.id, { cmd: 'id -un; pwd' })).stdout, 'nobody\n/tmp\n');
      assert.equal((await srv.api.exec(sb.id, { cmd: 'id -un', user: 'root' })).stdout, 'root\n', 'an exec can still name its user');
    } finally {
      await srv.api.call('DELETE', `/v1/sandboxes/${sb.id}`);
    }
  });

  test('zstd layers are unpacked', async () => {
    const img = await pushImage(registry.host, 'sandbox/zstd', '1', [readPythonRootfsTar(), await tarOf([{ name: 'z.txt', body: 'zstd layer\n' }])], {
      compression: 'zstd',
    });
    assert.match((img.image.manifest as any).layers[1].mediaType, /zstd$/);
    await pull(`${registry.host}/sandbox/zstd:1`);
    const sb = await srv.api.create({ image: `${registry.host}/sandbox/zstd:1`, runtime: runtimes[0] });
    try {
      assert.equal((await srv.api.exec(sb.id, { cmd: 'cat /z.txt' })).stdout, 'zstd layer\n');
    } finally {
      await srv.api.call('DELETE', `/v1/sandboxes/${sb.id}`);
    }
  });

  test('import: an OCI image layout, named by its annotation', async () => {
    const built = buildImage([
      await tarOf([
        { name: 'etc/', type: 'directory' },
        { name: 'etc/layout', body: 'oci\n' },
      ]),
    ]);
    const dir = mkdtempSync(join(testRoot(), 'layout-'));
    writeOciLayout(dir, built, 'registry.example/team/layout:2');
    const tar = spawnSync('tar', ['-C', dir, '-cf', '-', '.'], { maxBuffer: 1 << 30 }).stdout;
    const r = await srv.api.call('POST', '/v1/images/import', tar, { 'content-type': 'application/x-tar' });
    assert.equal(r.status, 200, JSON.stringify(r.body));
    assert.equal(r.body.images[0].id, sha256(built.manifestBytes));
    assert.deepEqual(r.body.images[0].references, ['registry.example/team/layout:2']);
  });
});
