/**
 * The snapshotter conformance suite on btrfs, and the btrfs behaviour that one of its cases guards
 * against, shown on a bare subvolume as the positive control.
 */
import assert from 'node:assert/strict';
import { renameSync, statSync, writeFileSync } from 'node:fs';
import { test } from 'node:test';
import { newDataDir } from '@airlock/testkit/harness.js';
import { deleteSubvolume, snapshotSubvolume } from '../host/rootfs-helper.js';
import { BtrfsSnapshotter } from './btrfs-snapshotter.js';
import { snapshotterConformance } from './snapshotter-conformance.js';

snapshotterConformance('btrfs', () => BtrfsSnapshotter.open(newDataDir('snapshotter'), 512 * 1024 * 1024));

test("control: a snapshot of a renamed subvolume lacks the rename's ctime of its root", { timeout: 120_000 }, async () => {
  const s = await BtrfsSnapshotter.open(newDataDir('snapshotter-rename'), 512 * 1024 * 1024);
  try {
    const work = await s.prepareWork(undefined);
    writeFileSync(`${work}/f`, 'x');
    await new Promise((r) => setTimeout(r, 20));
    renameSync(work, `${work}-renamed`);
    await snapshotSubvolume(`${work}-renamed`, `${work}-snap`);
    const ctime = (p: string) => statSync(p, { bigint: true }).ctimeNs;
    assert.notEqual(ctime(`${work}-snap`), ctime(`${work}-renamed`), 'btrfs keeps the renamed root ctime in memory only');
    await deleteSubvolume(`${work}-snap`);
    await deleteSubvolume(`${work}-renamed`);
  } finally {
    await s.close();
  }
});
