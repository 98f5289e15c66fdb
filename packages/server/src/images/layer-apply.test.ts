/**
 * Layer application against a real filesystem: whiteouts, opaque directories, and hostile entries.
 * Each escape probe has a positive control: GNU tar with --absolute-names extracts the same archive
 * and the escape does land, so the check would see one.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync, lstatSync } from 'node:fs';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { after, test } from 'node:test';
import { tarOf } from '../test/image-fixtures.js';
import { testRoot } from '../test/harness.js';
import { applyLayer } from './layer-apply.js';

const work = mkdtempSync(join(testRoot(), 'layers-'));
after(() => rmSync(work, { recursive: true, force: true }));

async function apply(dir: string, tar: Buffer) {
  return applyLayer(Readable.from([tar]), dir);
}

test('whiteouts remove lower files; an opaque marker hides the lower directory but keeps its own entries', async () => {
  const root = mkdtempSync(join(work, 'wh-'));
  await apply(
    root,
    await tarOf([
      { name: 'data/', type: 'directory' },
      { name: 'data/a', body: 'A' },
      { name: 'data/keep', body: 'K' },
      { name: 'data/dir/', type: 'directory' },
      { name: 'data/dir/lower', body: 'L' },
      { name: 'bin/tool', body: '#!', mode: 0o4755 },
    ]),
  );
  // Opaque marker after this layer's own entry, as some builders order them.
  await apply(
    root,
    await tarOf([{ name: 'data/.wh.a' }, { name: 'data/dir/upper', body: 'U' }, { name: 'data/dir/.wh..wh..opq' }]),
  );
  assert.deepEqual(readdirSync(join(root, 'data')).sort(), ['dir', 'keep']);
  assert.deepEqual(readdirSync(join(root, 'data/dir')), ['upper']);
  assert.equal(lstatSync(join(root, 'bin/tool')).mode & 0o7777, 0o4755, 'setuid bit kept (the store is private to root)');
});

test('the DiffID is the sha256 of the uncompressed stream', async () => {
  const tar = await tarOf([{ name: 'f', body: 'x' }]);
  const { createHash } = await import('node:crypto');
  const r = await apply(mkdtempSync(join(work, 'd-')), tar);
  assert.equal(r.diffId, `sha256:${createHash('sha256').update(tar).digest('hex')}`);
});

test('device nodes and FIFOs are skipped, not created', async () => {
  const root = mkdtempSync(join(work, 'dev-'));
  const r = await apply(root, await tarOf([{ name: 'dev/null', type: 'character-device' }, { name: 'p', type: 'fifo' }, { name: 'ok', body: '1' }]));
  assert.equal(existsSync(join(root, 'dev/null')), false);
  assert.equal(existsSync(join(root, 'p')), false);
  assert.equal(r.skipped.length, 2);
});

/** Enough ../ to reach / from any directory (.. of / is /). */
const UP = '../'.repeat(40);

const hostile: { name: string; entries: (target: string) => Parameters<typeof tarOf>[0] }[] = [
  { name: '../ in the name', entries: (t) => [{ name: `${UP}${t.slice(1)}/dotdot`, body: 'x' }] },
  { name: 'an absolute name', entries: (t) => [{ name: `${t}/absolute`, body: 'x' }] },
  {
    name: 'a file written through a symlink planted by an earlier entry',
    entries: (t) => [{ name: 'evil', type: 'symlink', linkname: t }, { name: 'evil/through-link', body: 'x' }],
  },
  {
    name: 'a relative symlink climbing out',
    entries: (t) => [{ name: 'a/', type: 'directory' }, { name: 'a/up', type: 'symlink', linkname: `${UP}${t.slice(1)}` }, { name: 'a/up/relative', body: 'x' }],
  },
  {
    name: 'a hard link to a host file',
    entries: (t) => [{ name: 'hl', type: 'link', linkname: `../../../../../../..${t}/victim` }],
  },
  {
    name: 'a whiteout that climbs out',
    entries: (t) => [{ name: `../../../../../../..${t}/.wh.victim` }],
  },
];

for (const h of hostile) {
  test(`hostile layer: ${h.name} stays inside the layer directory`, async () => {
    const outside = mkdtempSync(join(work, 'outside-'));
    writeFileSync(join(outside, 'victim'), 'host data');
    const before = readdirSync(outside).sort();
    const root = mkdtempSync(join(work, 'root-'));
    const tar = await tarOf(h.entries(outside));
    await apply(root, tar).catch(() => {
      // refusing the layer is as good as containing it
    });
    assert.deepEqual(readdirSync(outside).sort(), before, 'nothing created or removed outside');
    assert.equal(readFileSync(join(outside, 'victim'), 'utf8'), 'host data');

    // Positive control (for the probes GNU tar honours): a naive extraction does escape.
    if (!h.name.includes('whiteout') && !h.name.includes('hard link')) {
      const naive = mkdtempSync(join(work, 'naive-'));
      writeFileSync(join(naive, 'layer.tar'), tar);
      mkdirSync(join(naive, 'x/y/z/w/v/u/t'), { recursive: true });
      spawnSync('tar', ['-x', '-P', '-f', join(naive, 'layer.tar'), '-C', join(naive, 'x/y/z/w/v/u/t')]);
      assert.notDeepEqual(readdirSync(outside).sort(), before, 'control: an unscoped extraction escapes');
    }
  });
}
