/**
 * @module snapshotter-conformance
 * The behaviour every Snapshotter must show (snapshotter.ts): layers appear atomically and are
 * immutable, a sandbox's rootfs is a writable copy-on-write view limited to its disk size, and
 * everything can be released. btrfs runs it today; an overlayfs snapshotter on a quota-capable
 * filesystem would run the same suite.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { isStorageFull } from '../errors.js';
import type { Snapshotter } from './snapshotter.js';

const chain = (c: string) => `sha256:${c.repeat(64).slice(0, 64)}`;

export function snapshotterConformance(name: string, open: () => Promise<Snapshotter>): void {
  describe(`snapshotter conformance: ${name}`, { timeout: 120_000 }, () => {
    let s: Snapshotter;
    after(async () => {
      for (const id of s?.listRootfs() ?? []) await s.releaseRootfs(id);
      for (const l of s?.listLayers() ?? []) await s.removeLayer(l);
      await s?.close();
    });

    test('a layer appears only when its apply succeeds, and is immutable', async () => {
      s = await open();
      await assert.rejects(
        s.createLayer(chain('f'), undefined, async (dir) => {
          writeFileSync(join(dir, 'half'), 'x');
          throw new Error('apply failed');
        }),
        /apply failed/,
      );
      assert.equal(s.hasLayer(chain('f')), false, 'nothing of a failed apply is a layer');
      await s.createLayer(chain('a'), undefined, async (dir) => writeFileSync(join(dir, 'base.txt'), 'base'));
      await s.createLayer(chain('b'), chain('a'), async (dir) => {
        assert.equal(readFileSync(join(dir, 'base.txt'), 'utf8'), 'base', 'a layer starts from its parent');
        writeFileSync(join(dir, 'top.txt'), 'top');
      });
      assert.deepEqual(s.listLayers().sort(), [chain('a'), chain('b')].sort());
      // Creating an existing layer again is a no-op (a second pull of the same image).
      await s.createLayer(chain('a'), undefined, async () => assert.fail('not applied twice'));
    });

    test("a sandbox's rootfs sees its layer, writes stay its own, and the disk limit holds", async () => {
      const r = await s.prepareRootfs('sb-conformance-one', chain('b'), { diskBytes: 8 * 1024 * 1024 });
      assert.equal(readFileSync(join(r.path, 'top.txt'), 'utf8'), 'top');
      assert.equal(readFileSync(join(r.path, 'base.txt'), 'utf8'), 'base');
      writeFileSync(join(r.path, 'top.txt'), 'changed by the sandbox');
      const other = await s.prepareRootfs('sb-conformance-two', chain('b'), { diskBytes: 8 * 1024 * 1024 });
      assert.equal(readFileSync(join(other.path, 'top.txt'), 'utf8'), 'top', 'another sandbox does not see it');
      const again = await s.prepareRootfs('sb-conformance-one', chain('b'), { diskBytes: 8 * 1024 * 1024 });
      assert.equal(readFileSync(join(again.path, 'top.txt'), 'utf8'), 'changed by the sandbox', 'prepare is idempotent per sandbox');
      let refused: NodeJS.ErrnoException | undefined;
      try {
        mkdirSync(join(r.path, 'fill'));
        for (let i = 0; i < 64; i++) writeFileSync(join(r.path, 'fill', String(i)), Buffer.alloc(1024 * 1024, 7));
      } catch (e) {
        refused = e as NodeJS.ErrnoException;
      }
      assert.ok(isStorageFull(refused), `writes past the limit fail (${refused?.code} ${refused?.errno})`);
      assert.deepEqual(s.listRootfs().sort(), ['sb-conformance-one', 'sb-conformance-two']);
    });

    test("a build step's work tree starts with its layer's root exactly as stat shows it", async () => {
      // What an unchanged step's diff relies on (build/tree-diff.ts compares ctimes). The layer is
      // finished well after its last write (a jiffy is 4 ms here), as a slow build step's is.
      const root = (p: string) => {
        const st = statSync(p, { bigint: true });
        return { mode: st.mode, uid: st.uid, gid: st.gid, mtime: st.mtimeNs, ctime: st.ctimeNs };
      };
      const work = await s.prepareWork(undefined);
      writeFileSync(join(work, 'step.txt'), 'x');
      await new Promise((r) => setTimeout(r, 20));
      await s.commitWork(work, chain('c'));
      await s.createLayer(chain('d'), chain('c'), async (dir) => {
        writeFileSync(join(dir, 'pulled.txt'), 'y');
        await new Promise((r) => setTimeout(r, 20));
      });
      try {
        for (const layer of [chain('c'), chain('d')]) {
          const next = await s.prepareWork(layer);
          const [got, want] = [root(next), root(s.layerPath(layer))];
          await s.discardWork(next);
          assert.deepEqual(got, want, `a work tree on ${layer.slice(7, 8)}`);
        }
      } finally {
        await s.removeLayer(chain('d'));
        await s.removeLayer(chain('c'));
      }
    });

    test('released rootfs and removed layers are gone, and releasing twice is safe', async () => {
      const path = (await s.prepareRootfs('sb-conformance-one', chain('b'), { diskBytes: 8 * 1024 * 1024 })).path;
      await s.releaseRootfs('sb-conformance-one');
      await s.releaseRootfs('sb-conformance-one');
      await s.releaseRootfs('sb-conformance-two');
      assert.ok(!existsSync(path));
      assert.deepEqual(s.listRootfs(), []);
      await s.removeLayer(chain('b'));
      await s.removeLayer(chain('a'));
      assert.deepEqual(s.listLayers(), []);
      await s.reclaim();
      const { usedBytes, freeBytes } = await s.usage();
      assert.ok(usedBytes >= 0 && freeBytes > 0);
    });

    test('an idmapped rootfs shows the image files as owned by the sandbox host ids', async () => {
      await s.createLayer(chain('c'), undefined, async (dir) => writeFileSync(join(dir, 'owned'), 'x'));
      const r = await s.prepareRootfs('sb-conformance-idmap', chain('c'), { diskBytes: 8 * 1024 * 1024, idmap: { hostId: 1_500_000, size: 65_536 } });
      assert.equal(statSync(join(r.path, 'owned')).uid, 1_500_000, 'uid 0 in the image is the range base through the mount');
      assert.equal(statSync(join(r.hostPath, 'owned')).uid, 0, 'on disk it stays the image owner');
      await s.releaseRootfs('sb-conformance-idmap');
      await s.removeLayer(chain('c'));
    });
  });
}
