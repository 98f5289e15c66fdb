/**
 * ADD of a local archive in each format a Dockerfile may hand us (recognised by its first bytes,
 * decompressed by its program), and a corrupt one: an invalid_request that names the file, never
 * a server error and never a layer with part of the archive in it.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { buffer } from 'node:stream/consumers';
import { after, test } from 'node:test';
import { gzipSync } from 'node:zlib';
import { extract } from 'tar-stream';
import { Readable } from 'node:stream';
import { tarOf } from '@airlock/testkit/image-fixtures.js';
import { testRoot } from '@airlock/testkit/harness.js';
import { AirlockError } from '../../errors.js';
import { archiveFormat, writeArchive } from './add-archive.js';
import { TarWriter } from './tar-writer.js';

const work = mkdtempSync(join(testRoot(), 'add-archive-'));
after(() => rmSync(work, { recursive: true, force: true }));

const byProgram = (argv: string[], input: Buffer) => {
  const r = spawnSync(argv[0]!, argv.slice(1), { input });
  assert.equal(r.status, 0, r.stderr.toString());
  return r.stdout;
};

/** The entries (name → content) that writeArchive put into a layer tar. */
async function added(path: string, destRel: string): Promise<Map<string, string>> {
  const format = archiveFormat(path);
  assert.ok(format !== undefined, `${path} is recognised as an archive`);
  const tar = new TarWriter();
  const layer = buffer(tar.stream);
  await writeArchive(path, format, destRel, undefined, tar);
  await tar.finish();
  const entries = new Map<string, string>();
  const x = extract();
  Readable.from([await layer]).pipe(x);
  for await (const e of x) entries.set(e.header.name, (await buffer(e)).toString());
  return entries;
}

test('plain, gzip, bzip2, xz and zstd archives unpack under the destination', { timeout: 60_000 }, async () => {
  const tar = await tarOf([
    { name: 'pkg/', type: 'directory' },
    { name: 'pkg/data.txt', body: 'from the archive' },
  ]);
  const forms: Record<string, Buffer> = {
    tar,
    gzip: gzipSync(tar),
    bzip2: byProgram(['bzip2', '-c'], tar),
    xz: byProgram(['xz', '-c'], tar),
    zstd: byProgram(['zstd', '-q', '-c'], tar),
  };
  for (const [form, bytes] of Object.entries(forms)) {
    const path = join(work, `files.${form}`);
    writeFileSync(path, bytes);
    assert.equal(archiveFormat(path), form);
    const entries = await added(path, 'opt');
    assert.equal(entries.get('opt/pkg/data.txt'), 'from the archive', form);
  }
});

test('a corrupt archive is an invalid_request naming the file', { timeout: 60_000 }, async () => {
  const tar = await tarOf([{ name: 'big', body: 'x'.repeat(200_000) }]);
  const gz = gzipSync(tar);
  for (const [form, bytes] of [
    ['gzip', gz.subarray(0, gz.length - 20)],
    ['zstd', Buffer.concat([byProgram(['zstd', '-q', '-c'], tar).subarray(0, 40), Buffer.alloc(4000, 0xaa)])],
  ] as const) {
    const path = join(work, `broken.${form}`);
    writeFileSync(path, bytes);
    await assert.rejects(
      added(path, ''),
      (e: unknown) => e instanceof AirlockError && e.code === 'invalid_request' && e.message.includes(`broken.${form}`) && e.message.includes(`${form} failed`),
      form,
    );
  }
});
