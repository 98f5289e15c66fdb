/**
 * Layer application against a real filesystem: whiteouts, opaque directories, and hostile entries.
 * Each escape probe has a positive control: GNU tar with --absolute-names extracts the same archive
 * and the escape does land, so the check would see one (a hard link out shows as the victim's link
 * count, since it adds no name in the victim's directory).
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync, lstatSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { Readable } from 'node:stream';
import { after, test } from 'node:test';
import { tarOf } from '@airlock/testkit/image-fixtures.js';
import { testRoot } from '@airlock/testkit/harness.js';
import { decompressed } from '../host/codec.js';
import { LayerError, applyLayer } from './layer-apply.js';

const work = mkdtempSync(join(testRoot(), 'layers-'));
after(() => rmSync(work, { recursive: true, force: true }));

async function apply(dir: string, tar: Buffer) {
  return applyLayer(Readable.from([tar]), dir);
}

test('whiteouts remove lower files; an opaque marker hides the lower directory but keeps its own entries', { timeout: 30_000 }, async () => {
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
  await apply(root, await tarOf([{ name: 'data/.wh.a' }, { name: 'data/dir/upper', body: 'U' }, { name: 'data/dir/.wh..wh..opq' }]));
  assert.deepEqual(readdirSync(join(root, 'data')).sort(), ['dir', 'keep']);
  assert.deepEqual(readdirSync(join(root, 'data/dir')), ['upper']);
  assert.equal(lstatSync(join(root, 'bin/tool')).mode & 0o7777, 0o4755, 'setuid bit kept (the store is private to root)');
});

test('the DiffID is the sha256 of the uncompressed stream', { timeout: 30_000 }, async () => {
  const tar = await tarOf([{ name: 'f', body: 'x' }]);
  const { createHash } = await import('node:crypto');
  const r = await apply(mkdtempSync(join(work, 'd-')), tar);
  assert.equal(r.diffId, `sha256:${createHash('sha256').update(tar).digest('hex')}`);
});

test('a layer whose decompression fails is a LayerError (image_invalid), after a control that the same layer whole applies', { timeout: 30_000 }, async () => {
  const gz = gzipSync(await tarOf([{ name: 'f', body: 'x'.repeat(100_000) }]));
  const whole = await applyLayer(decompressed(Readable.from([gz]), 'gzip'), mkdtempSync(join(work, 'gz-')));
  assert.equal(whole.entries, 1, 'control');
  for (const bad of [gz.subarray(0, gz.length - 8), Buffer.from('not gzip')]) {
    await assert.rejects(
      applyLayer(decompressed(Readable.from([bad]), 'gzip'), mkdtempSync(join(work, 'gz-'))),
      (e: unknown) => e instanceof LayerError && /gzip failed/.test((e as Error).message),
    );
  }
});

test('device nodes and FIFOs are skipped, not created', { timeout: 30_000 }, async () => {
  const root = mkdtempSync(join(work, 'dev-'));
  const r = await apply(
    root,
    await tarOf([
      { name: 'dev/null', type: 'character-device' },
      { name: 'p', type: 'fifo' },
      { name: 'ok', body: '1' },
    ]),
  );
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
    entries: (t) => [
      { name: 'evil', type: 'symlink', linkname: t },
      { name: 'evil/through-link', body: 'x' },
    ],
  },
  {
    name: 'a relative symlink climbing out',
    entries: (t) => [
      { name: 'a/', type: 'directory' },
      { name: 'a/up', type: 'symlink', linkname: `${UP}${t.slice(1)}` },
      { name: 'a/up/relative', body: 'x' },
    ],
  },
  {
    name: 'a hard link to a host file',
    entries: (t) => [{ name: 'hl', type: 'link', linkname: `${UP}${t.slice(1)}/victim` }],
  },
  {
    name: 'an absolute hard link to a host file',
    entries: (t) => [{ name: 'hl', type: 'link', linkname: `${t}/victim` }],
  },
  {
    name: 'a whiteout that climbs out',
    entries: (t) => [{ name: `../../../../../../..${t}/.wh.victim` }],
  },
];

/** What a layer did to the host directory: entries added or removed, the victim's bytes, its link count. */
function hostState(outside: string) {
  const victim = join(outside, 'victim');
  return {
    entries: readdirSync(outside).sort(),
    data: existsSync(victim) ? readFileSync(victim, 'utf8') : null,
    links: existsSync(victim) ? lstatSync(victim).nlink : 0,
  };
}

for (const h of hostile) {
  test(`hostile layer: ${h.name} stays inside the layer directory`, { timeout: 30_000 }, async () => {
    const outside = mkdtempSync(join(work, 'outside-'));
    writeFileSync(join(outside, 'victim'), 'host data');
    const before = hostState(outside);
    assert.deepEqual(before, { entries: ['victim'], data: 'host data', links: 1 });
    const root = mkdtempSync(join(work, 'root-'));
    const tar = await tarOf(h.entries(outside));
    await apply(root, tar).catch(() => {
      // refusing the layer is as good as containing it
    });
    // A hard link out adds no entry outside, but it adds a name for the victim: its link count says so.
    assert.deepEqual(hostState(outside), before, 'nothing created, removed, changed or linked outside');

    // Positive control (for the probes GNU tar honours; it has no whiteouts): a naive extraction does escape.
    if (!h.name.includes('whiteout')) {
      const naive = mkdtempSync(join(work, 'naive-'));
      writeFileSync(join(naive, 'layer.tar'), tar);
      mkdirSync(join(naive, 'x/y/z/w/v/u/t'), { recursive: true });
      spawnSync('tar', ['-x', '-P', '-f', join(naive, 'layer.tar'), '-C', join(naive, 'x/y/z/w/v/u/t')]);
      assert.notDeepEqual(hostState(outside), before, 'control: an unscoped extraction escapes');
    }
  });
}
