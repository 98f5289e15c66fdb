/**
 * The leak check finds what a run left beyond the ids it knows: each kind of host object is made
 * here under a throwaway test root (or named after one of its data dirs), the scan must find it,
 * and the same scan of an untouched root finds nothing. The test removes everything it made itself
 * (it never runs the leak check's --clean, which is for the suite's own root).
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, rmdirSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, test } from 'node:test';
import { cgroupVersion } from '@airlock/server/internal/host/cgroups.js';
import { instanceTag, leftSubvolumes, loopDevicesUnder, mountsUnder, networkLeftovers, runStartMs, unknownCgroups } from './leak-scan.js';

const LEAK_CHECK = fileURLToPath(new URL('./leak-check.js', import.meta.url));
const sh = (cmd: string[]) => {
  const r = spawnSync(cmd[0]!, cmd.slice(1), { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`${cmd.join(' ')}: ${r.stderr}`);
  return r.stdout;
};
const isRoot = process.getuid?.() === 0;
const root = isRoot ? mkdtempSync('/tmp/airlock-test-leakscan-') : '/nonexistent';
const clean = isRoot ? mkdtempSync('/tmp/airlock-test-leakscan-clean-') : '/nonexistent';
// Another run's leak check must not take our deliberate cgroup for its own: a ledger names it.
const alibi = isRoot ? mkdtempSync('/tmp/airlock-test-leakscan-alibi-') : '/nonexistent';
const dataDir = join(root, `srv-${randomBytes(3).toString('hex')}`);
const tag = instanceTag(dataDir);
const cgroupId = `sb-leakscan${randomBytes(5).toString('hex')}`;
const cgroupDir = cgroupVersion() === 2 ? `/sys/fs/cgroup/airlock/${cgroupId}` : `/sys/fs/cgroup/pids/airlock/${cgroupId}`;
const recordedTag = randomBytes(3).toString('hex');
const made = { volume: '', netns: `al${tag}-${cgroupId}`, veth: `al${tag}0001`, table: `airlock_${tag}`, recordedTable: `airlock_${recordedTag}` };

describe('leak scan', { timeout: 120_000, skip: isRoot ? false : 'needs root' }, () => {
  before(() => {
    writeFileSync(join(alibi, 'ledger'), `${cgroupId}\n`);
    mkdirSync(join(dataDir, 'images', 'store', 'fs'), { recursive: true });
    const file = join(dataDir, 'images', 'store', 'volume.btrfs');
    writeFileSync(file, '');
    truncateSync(file, 256 * 1024 * 1024);
    sh(['mkfs.btrfs', '-q', file]);
    made.volume = join(dataDir, 'images', 'store', 'fs');
    sh(['mount', '-t', 'btrfs', '-o', 'loop', file, made.volume]);
    mkdirSync(join(made.volume, 'sandboxes'));
    sh(['btrfs', '-q', 'subvolume', 'create', join(made.volume, 'sandboxes', 'sb-left')]);
    sh(['ip', 'netns', 'add', made.netns]);
    sh(['ip', 'link', 'add', made.veth, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', made.netns]);
    sh(['nft', 'add', 'table', 'inet', made.table]);
    writeFileSync(join(root, 'network-tags'), `${recordedTag}\n`);
    sh(['nft', 'add', 'table', 'inet', made.recordedTable]);
    mkdirSync(cgroupDir, { recursive: true });
  });

  after(() => {
    const quiet = (cmd: string[]) => spawnSync(cmd[0]!, cmd.slice(1));
    quiet(['nft', 'delete', 'table', 'inet', made.table]);
    quiet(['nft', 'delete', 'table', 'inet', made.recordedTable]);
    quiet(['ip', 'link', 'del', made.veth]);
    quiet(['ip', 'netns', 'del', made.netns]);
    if (made.volume) {
      quiet(['btrfs', 'subvolume', 'delete', join(made.volume, 'sandboxes', 'sb-left')]);
      quiet(['umount', made.volume]);
    }
    try {
      rmdirSync(cgroupDir);
    } catch {
      // never made
    }
    for (const d of [root, clean, alibi]) rmSync(d, { recursive: true, force: true });
  });

  test('finds each kind of leftover of the run, and nothing under an untouched root', async () => {
    const mounts = mountsUnder(root);
    assert.deepEqual(leftSubvolumes(mounts), [join(made.volume, 'sandboxes', 'sb-left')]);
    assert.equal(loopDevicesUnder(root).length, 1);
    const net = await networkLeftovers(root, []);
    assert.deepEqual({ ...net, tables: net.tables.sort() }, { netns: [made.netns], tables: [made.table, made.recordedTable].sort(), veths: [made.veth] });
    assert.ok(unknownCgroups(new Set(), runStartMs(root), root).includes(cgroupDir), 'a cgroup made during the run that nobody knows');
    assert.ok(!unknownCgroups(new Set([cgroupId]), runStartMs(root), root).includes(cgroupDir), 'a known id is not unknown');

    // Control: the same scans of a root with nothing in it.
    assert.deepEqual([mountsUnder(clean), loopDevicesUnder(clean)], [[], []]);
    assert.deepEqual(await networkLeftovers(clean, []), { netns: [], tables: [], veths: [] });
  });

  test('the leak check fails on them and names each', () => {
    const r = spawnSync(process.execPath, [LEAK_CHECK], { env: { ...process.env, AIRLOCK_TEST_ROOT: root }, encoding: 'utf8' });
    assert.equal(r.status, 1);
    for (const what of [
      'btrfs subvolume left',
      'loop device left',
      `network namespace left: ${made.netns}`,
      `nft table left: inet ${made.table}`,
      `host veth left: ${made.veth}`,
    ]) {
      assert.match(r.stderr, new RegExp(what.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')));
    }
    const ok = spawnSync(process.execPath, [LEAK_CHECK], { env: { ...process.env, AIRLOCK_TEST_ROOT: clean }, encoding: 'utf8' });
    assert.equal(ok.status, 0, ok.stderr);
  });
});
