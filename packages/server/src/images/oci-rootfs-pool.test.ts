/**
 * A warm pool's sandboxes run the image the default project's reference names (pools are filled for
 * it): a create in another project may take one only when that project's own reference, if it has
 * one, names the same image. Judged on a real SQLite store.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { SqliteStore } from '../store/sqlite-store.js';
import { imageRecord } from '../store/store-conformance.js';
import { DEFAULT_PROJECT } from '../store/store.js';
import { ImageCatalog } from './catalog.js';
import { Leases } from './leases.js';
import { OciImages } from './oci-rootfs.js';
import type { Puller } from './pull.js';
import type { Snapshotter } from './snapshotter.js';

const dir = mkdtempSync(join(tmpdir(), 'airlock-pool-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const image = (c: string) => imageRecord(`sha256:${c.repeat(64)}`, 'docker.io/library/python');

test("a pool serves a project's create only when the project's own tag names the pool's image", async () => {
  const store = new SqliteStore(join(dir, 'airlock.db'));
  const catalog = new ImageCatalog(store.images);
  const images = new OciImages({ images: store.images, catalog, puller: {} as Puller, snapshotter: {} as Snapshotter, leases: new Leases() });
  const tag = 'docker.io/library/python:3.12';
  await store.images.put(image('a'), { project: DEFAULT_PROJECT, reference: tag });
  await store.images.put(image('a'), { project: 'same', reference: tag });
  await store.images.put(image('b'), { project: 'own', reference: tag });
  assert.equal(await images.poolServes('python:3.12', 'same'), true, 'positive control: the same image under its own tag');
  assert.equal(await images.poolServes('python:3.12', 'none'), true, 'no tag of its own: the pool image is what a pull would give');
  assert.equal(await images.poolServes('python:3.12', DEFAULT_PROJECT), true);
  assert.equal(await images.poolServes('python:3.12', 'own'), false, "a project's own tag naming another image is not served from the pool");
  await store.close();
});
