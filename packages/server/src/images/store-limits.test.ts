/**
 * The image store's limits, against a real registry on loopback and real btrfs: over its budget it
 * evicts unused images, a pull that fills its volume fails cleanly, an import over its size limit is
 * refused while it streams, and a root filesystem no sandbox owns is released at start.
 */
import { randomBytes } from 'node:crypto';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { spawnSync } from 'node:child_process';
import { buildImage, pushImage, readPythonRootfsTar, startRegistry, tarOf, writeOciLayout, type Registry } from '@airlock/testkit/image-fixtures.js';
import { newDataDir, startTestServer, testRoot } from '@airlock/testkit/harness.js';
import { WRITABLE_LAYER } from './default-image.js';
import { DEFAULT_PROJECT } from '../store/store.js';

let registry: Registry;
let py: string; // an image larger than the small store below

before(async () => {
  registry = await startRegistry(mkdtempSync(join(testRoot(), 'registry-')));
  await pushImage(registry.host, 'sandbox/py', '1', [readPythonRootfsTar()]);
  py = `${registry.host}/sandbox/py:1`;
});

after(async () => {
  await registry?.stop();
});

describe('image store limits', { timeout: 10 * 60_000 }, () => {
  test('over its budget the store evicts unused images, least recently used first', async () => {
    const small = await startTestServer(newDataDir(), { imageBudgetBytes: 1 });
    try {
      const a = await pushImage(registry.host, 'sandbox/budget', 'a', [await tarOf([{ name: 'a', body: 'a'.repeat(100_000) }])]);
      const b = await pushImage(registry.host, 'sandbox/budget', 'b', [await tarOf([{ name: 'b', body: 'b'.repeat(100_000) }])]);
      await small.server.images.pull(DEFAULT_PROJECT, `${registry.host}/sandbox/budget:a`);
      await small.server.images.pull(DEFAULT_PROJECT, `${registry.host}/sandbox/budget:b`);
      await small.server.images.enforceBudget();
      const ids = (await small.server.images.list()).map((i) => i.id);
      assert.ok(!ids.includes(a.digest), 'the older unused image went');
      assert.ok(ids.length <= 1 && (ids.length === 0 || ids[0] === b.digest));
    } finally {
      await small.close();
    }
  });

  test('a pull that fills the store fails cleanly and leaves nothing behind', async () => {
    const tiny = await startTestServer(newDataDir(), { imageVolumeBytes: 160 * 1024 * 1024 });
    try {
      await assert.rejects(tiny.server.images.pull(DEFAULT_PROJECT, py), (e: any) => e.code === 'storage_full');
      assert.equal((await tiny.server.images.list()).length, 0);
      const store = join(tiny.server.config.dataDir, 'images');
      assert.deepEqual(
        readdirSync(join(store, 'store', 'fs', 'layers')).filter((l) => `sha256:${l}` !== WRITABLE_LAYER),
        [],
        "no layer left but the default image's own",
      );
      assert.deepEqual(readdirSync(join(store, 'store', 'fs', 'tmp')), [], 'no half-unpacked layer left');
      assert.deepEqual(readdirSync(join(store, 'content', 'ingest')), []);
      // The store still works after the failure.
      const ok = await pushImage(registry.host, 'sandbox/small', '1', [await tarOf([{ name: 'f', body: 'small' }])]);
      assert.equal((await tiny.server.images.pull(DEFAULT_PROJECT, `${registry.host}/sandbox/small:1`)).id, ok.digest);
    } finally {
      await tiny.close();
    }
  });

  test('an import over its size limit is refused with 413 while it streams, and leaves nothing in the store', async () => {
    const small = await startTestServer(newDataDir(), { limits: { maxImportBytes: 256 * 1024 } });
    try {
      const built = buildImage([await tarOf([{ name: 'blob.bin', body: randomBytes(600_000) }])]);
      const dir = mkdtempSync(join(testRoot(), 'layout-big-'));
      writeOciLayout(dir, built, 'registry.example/team/big:1');
      const tar = spawnSync('tar', ['-C', dir, '-cf', '-', '.'], { maxBuffer: 1 << 30 }).stdout;
      // Sent chunked, so the limit is found while the archive streams, not from a length header.
      const body = new ReadableStream<Uint8Array>({
        start(c) {
          for (let off = 0; off < tar.length; off += 64 * 1024) c.enqueue(tar.subarray(off, off + 64 * 1024));
          c.close();
        },
      });
      const res = await fetch(`${small.api.url}/v1/images/import`, {
        method: 'POST',
        headers: { authorization: `Bearer ${small.api.key}`, 'content-type': 'application/x-tar' },
        body,
        duplex: 'half',
      } as RequestInit);
      assert.equal(res.status, 413);
      assert.equal(((await res.json()) as { code: string }).code, 'payload_too_large');
      const content = join(small.server.config.dataDir, 'images', 'content');
      assert.deepEqual(readdirSync(join(content, 'blobs', 'sha256')), [], 'no blob of the refused archive is kept');
      assert.deepEqual(readdirSync(join(content, 'ingest')), []);
      // Positive control: the same archive under a larger limit imports.
      const roomy = await startTestServer(newDataDir(), {});
      try {
        const ok = await roomy.api.call('POST', '/v1/images/import', tar, { 'content-type': 'application/x-tar' });
        assert.equal(ok.status, 200, JSON.stringify(ok.body));
      } finally {
        await roomy.close();
      }
    } finally {
      await small.close();
    }
  });

  test('a root filesystem that no sandbox owns is released when the server starts', async () => {
    const small = await pushImage(registry.host, 'sandbox/orphan', '1', [await tarOf([{ name: 'f', body: 'x' }])]);
    const dataDir = newDataDir();
    const first = await startTestServer(dataDir);
    await first.server.images.pull(DEFAULT_PROJECT, `${registry.host}/sandbox/orphan:1`);
    await first.server.images.provider.prepare(small.digest, 'sb-orphan0000000000000', { memoryMiB: 64, diskMiB: 64 });
    assert.deepEqual(first.server.images.provider.preparedSandboxes(), ['sb-orphan0000000000000'], 'control: the orphan exists');
    await first.close();
    const second = await startTestServer(dataDir);
    try {
      assert.deepEqual(second.server.images.provider.preparedSandboxes(), []);
    } finally {
      await second.close();
    }
  });
});
