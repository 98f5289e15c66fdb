/**
 * Layer commit on real btrfs snapshots (the image store's snapshotter): every kind of change a step
 * can make is found (including a file changed and then given back its content and mtime), written
 * as the OCI layer the image spec describes, and re-applied through the layer applier into the same
 * tree; the same change committed twice, at different times, gives the same digests.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import {
  chmodSync,
  linkSync,
  lchownSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  statSync,
  symlinkSync,
  utimesSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { createGunzip } from 'node:zlib';
import { after, before, describe, test } from 'node:test';
import { extract } from 'tar-stream';
import { testRoot } from '@airlock/testkit/harness.js';
import { fileTree, treeDifferences } from '@airlock/testkit/file-tree.js';
import { BtrfsSnapshotter } from '../btrfs-snapshotter.js';
import { ContentStore } from '../content-store.js';
import { applyLayer } from '../layer-apply.js';
import { chainIds } from '../manifest.js';
import { commitLayer, type CommittedLayer } from './layer-commit.js';

let dir: string;
let snap: BtrfsSnapshotter;
let content: ContentStore;
let base: string; // chain id of the base layer

async function entriesOf(
  layer: CommittedLayer,
): Promise<{ name: string; type: string; linkname?: string | null; mode?: number; uid?: number; mtime?: Date; pax?: Record<string, string> | null }[]> {
  const x = extract();
  Readable.from([content.read(layer.digest)])
    .pipe(createGunzip())
    .pipe(x);
  const out = [];
  for await (const e of x) {
    out.push({
      name: e.header.name,
      type: e.header.type ?? 'file',
      linkname: e.header.linkname,
      mode: e.header.mode,
      uid: e.header.uid,
      mtime: e.header.mtime,
      pax: e.header.pax as Record<string, string> | null,
    });
    e.resume();
  }
  return out;
}

/** The base: a small tree with every kind of entry. */
function writeBase(root: string): void {
  mkdirSync(join(root, 'etc'));
  writeFileSync(join(root, 'etc/keep'), 'untouched');
  writeFileSync(join(root, 'etc/restored'), 'aaaa');
  utimesSync(join(root, 'etc/restored'), 1_600_000_000, 1_600_000_000);
  writeFileSync(join(root, 'etc/gone'), 'to be deleted');
  mkdirSync(join(root, 'replaced'));
  writeFileSync(join(root, 'replaced/old'), 'hidden by the opaque marker');
  mkdirSync(join(root, 'tree/deep'), { recursive: true });
  writeFileSync(join(root, 'tree/deep/file'), 'deep');
  writeFileSync(join(root, 'becomes-dir'), 'file');
  mkdirSync(join(root, 'becomes-file'));
  writeFileSync(join(root, 'becomes-file/child'), 'x');
  writeFileSync(join(root, 'modes'), 'm');
}

/** The step: one of every change. */
function change(root: string): void {
  rmSync(join(root, 'etc/gone'));
  writeFileSync(join(root, 'etc/restored'), 'bbbb');
  writeFileSync(join(root, 'etc/restored'), 'aaaa');
  utimesSync(join(root, 'etc/restored'), 1_600_000_000, 1_600_000_000);
  rmSync(join(root, 'replaced'), { recursive: true });
  mkdirSync(join(root, 'replaced'));
  writeFileSync(join(root, 'replaced/new'), 'new');
  writeFileSync(join(root, 'tree/deep/file'), 'deeper');
  rmSync(join(root, 'becomes-dir'));
  mkdirSync(join(root, 'becomes-dir'));
  writeFileSync(join(root, 'becomes-dir/inside'), 'i');
  rmSync(join(root, 'becomes-file'), { recursive: true });
  writeFileSync(join(root, 'becomes-file'), 'now a file');
  lchownSync(join(root, 'modes'), 1000, 1001);
  chmodSync(join(root, 'modes'), 0o4750); // after the chown, which clears setuid
  mkdirSync(join(root, 'home/app'), { recursive: true });
  writeFileSync(join(root, 'home/app/a'), 'hard');
  linkSync(join(root, 'home/app/a'), join(root, 'home/app/b'));
  symlinkSync('../../etc/keep', join(root, 'home/app/link'));
  writeFileSync(join(root, 'home/app/big'), Buffer.alloc(3 * 1024 * 1024, 7));
  const r = spawnSync('setfattr', ['-h', '-n', 'user.airlock', '-v', 'kept', join(root, 'home/app/a')]);
  assert.equal(r.status, 0, r.stderr?.toString());
  // What a runtime adds to a root it runs: never part of the layer.
  mkdirSync(join(root, '.airlock'));
  writeFileSync(join(root, '.airlock/agent'), '');
  mkdirSync(join(root, 'proc'));
}

async function commitStep(): Promise<{ layer: CommittedLayer; work: string }> {
  const work = await snap.prepareWork(base);
  change(work);
  const layer = await commitLayer({
    lower: snap.layerPath(base),
    upper: work,
    rule: { epoch: 0, stepStartNs: BigInt(Date.now() - 60_000) * 1_000_000n, clamp: false },
    compression: 'gzip',
    content,
    runtimeArtifacts: ['proc', 'sys', 'dev'],
  });
  return { layer, work };
}

before(async () => {
  dir = mkdtempSync(join(testRoot(), 'layer-commit-'));
  snap = await BtrfsSnapshotter.open(join(dir, 'store'), 2 * 1024 ** 3);
  content = new ContentStore(join(dir, 'content'));
  const work = await snap.prepareWork(undefined);
  writeBase(work);
  base = `sha256:${'b'.repeat(64)}`;
  await snap.commitWork(work, base);
});

after(async () => {
  for (const l of snap?.listLayers() ?? []) await snap.removeLayer(l);
  await snap?.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('layer commit', { timeout: 120_000 }, () => {
  test('every change is in the layer, as the image spec writes it; nothing else is', async () => {
    const { layer, work } = await commitStep();
    const entries = await entriesOf(layer);
    const names = entries.map((e) => e.name);
    assert.deepEqual(names, [
      './',
      'becomes-dir/',
      'becomes-dir/inside',
      'becomes-file',
      'etc/',
      'etc/.wh.gone',
      'etc/restored',
      'home/',
      'home/app/',
      'home/app/a',
      'home/app/b',
      'home/app/big',
      'home/app/link',
      'modes',
      'replaced/',
      'replaced/.wh..wh..opq',
      'replaced/new',
      'tree/',
      'tree/deep/',
      'tree/deep/file',
    ]);
    const by = new Map(entries.map((e) => [e.name, e]));
    assert.equal(by.get('home/app/b')!.type, 'link');
    assert.equal(by.get('home/app/b')!.linkname, 'home/app/a');
    assert.equal(by.get('home/app/link')!.linkname, '../../etc/keep');
    assert.equal(by.get('modes')!.mode, 0o4750);
    assert.equal(by.get('modes')!.uid, 1000);
    assert.equal(by.get('home/app/a')!.pax?.['SCHILY.xattr.user.airlock'], 'kept');
    // Written by the step: the epoch. Kept from before the step: its own mtime.
    assert.equal(by.get('replaced/new')!.mtime!.getTime(), 0);
    assert.equal(by.get('etc/restored')!.mtime!.getTime(), 1_600_000_000_000);
    assert.equal(lstatSync(join(work, 'replaced/new')).mtimeMs, 0, 'the step root carries the mtimes written');
    assert.equal(lstatSync(join(work, '.airlock'), { throwIfNoEntry: false }), undefined, 'runtime artifacts removed from the root');
    assert.equal(lstatSync(join(work, 'proc'), { throwIfNoEntry: false }), undefined);
    await snap.discardWork(work);
  });

  test('the layer re-applied on its parent gives the step root, file for file', async () => {
    const { layer, work } = await commitStep();
    const chain = chainIds([`sha256:${'b'.repeat(64)}`, layer.diffId])[1]!;
    await snap.createLayer(chain, base, async (d) => {
      const applied = await applyLayer(Readable.from([content.read(layer.digest)]).pipe(createGunzip()), d);
      assert.equal(applied.diffId, layer.diffId);
    });
    const differences = treeDifferences(fileTree(work, { mtimes: true }), fileTree(snap.layerPath(chain), { mtimes: true }));
    assert.deepEqual(differences, []);
    const a = statSync(join(snap.layerPath(chain), 'home/app/a'));
    assert.equal(a.nlink, 2, 'the hard link is a hard link again');
    assert.equal(a.ino, statSync(join(snap.layerPath(chain), 'home/app/b')).ino);
    assert.equal(readFileSync(join(snap.layerPath(chain), 'etc/keep'), 'utf8'), 'untouched');
    await snap.discardWork(work);
    await snap.removeLayer(chain);
  });

  test('the same change committed twice, later, has the same DiffID and digest', async () => {
    const one = await commitStep();
    await new Promise((r) => setTimeout(r, 1100));
    const two = await commitStep();
    assert.equal(one.layer.diffId, two.layer.diffId);
    assert.equal(one.layer.digest, two.layer.digest);
    await snap.discardWork(one.work);
    await snap.discardWork(two.work);
  });

  test('an unchanged step is an empty layer (positive control: the diff is not blind)', async () => {
    const work = await snap.prepareWork(base);
    const rule = { epoch: 0, stepStartNs: BigInt(Date.now()) * 1_000_000n, clamp: false };
    const empty = await commitLayer({ lower: snap.layerPath(base), upper: work, rule, compression: 'zstd', content });
    assert.equal(empty.changes, 0, JSON.stringify(empty));
    assert.equal(empty.tarBytes, 1024, 'only the end-of-archive blocks');
    writeFileSync(join(work, 'etc/keep'), 'touched');
    const one = await commitLayer({ lower: snap.layerPath(base), upper: work, rule, compression: 'zstd', content });
    assert.equal(one.changes, 1);
    assert.equal(one.mediaType, 'application/vnd.oci.image.layer.v1.tar+zstd');
    await snap.discardWork(work);
  });
});
