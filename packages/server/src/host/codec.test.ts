/**
 * Layer and archive codecs as the programs run them: what Node's zlib made still decompresses and
 * what the gzip program makes Node's zlib still reads (layers pulled and pushed before and after
 * the move out of the server), a build's layer bytes depend on content alone, corrupt input fails
 * the stream instead of ending it as if complete, and what gzip accepts after its last member.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { buffer } from 'node:stream/consumers';
import { test } from 'node:test';
import { gunzipSync, gzipSync } from 'node:zlib';
import { compressed, decompressed, type Codec } from './codec.js';
import { filterThrough } from './command.js';

// Half random, half repetitive: both of deflate's paths, and more than one pipe buffer.
const payload = Buffer.concat([randomBytes(300_000), Buffer.alloc(300_000, 'airlock ')]);
const through = (s: Readable) => buffer(s);
const byProgram = (argv: string[], input: Buffer) => {
  const r = spawnSync(argv[0]!, argv.slice(1), { input, maxBuffer: 1 << 26 });
  assert.equal(r.status, 0, r.stderr.toString());
  return r.stdout;
};

test('every codec decompresses what its program made', { timeout: 60_000 }, async () => {
  const made: Record<Codec, Buffer> = {
    gzip: gzipSync(payload),
    bzip2: byProgram(['bzip2', '-c'], payload),
    xz: byProgram(['xz', '-c', '-0'], payload),
    zstd: byProgram(['zstd', '-q', '-c'], payload),
  };
  for (const [codec, bytes] of Object.entries(made) as [Codec, Buffer][]) {
    assert.ok(!bytes.equals(payload));
    assert.ok((await through(decompressed(Readable.from([bytes]), codec))).equals(payload), codec);
  }
});

test("gzip and zstd layers round-trip, gzip's readable by Node's zlib and the same bytes each time", { timeout: 60_000 }, async () => {
  const a = await through(compressed(Readable.from([payload]), 'gzip'));
  const b = await through(compressed(Readable.from([payload]), 'gzip'));
  assert.ok(gunzipSync(a).equals(payload));
  assert.ok(a.equals(b), 'no name or time in the header: a rebuild gives the same digest');
  assert.equal(a.readUInt32LE(4), 0, 'mtime field is zero');
  const z = await through(compressed(Readable.from([payload]), 'zstd'));
  assert.ok((await through(decompressed(Readable.from([z]), 'zstd'))).equals(payload));
});

test('corrupt input fails the stream with the program’s message', { timeout: 60_000 }, async () => {
  const good = gzipSync(payload);
  const cut = good.subarray(0, good.length - 100);
  for (const [codec, bytes] of [
    ['gzip', Buffer.from('not gzip at all')],
    ['gzip', cut],
    ['zstd', randomBytes(4096)],
    ['bzip2', Buffer.from('BZh9 and then garbage')],
    ['xz', randomBytes(4096)],
  ] as [Codec, Buffer][]) {
    await assert.rejects(through(decompressed(Readable.from([bytes]), codec)), new RegExp(`${codec} failed \\(exit \\d\\)`), codec);
  }
});

test('trailing zeros after a gzip member are skipped; other trailing bytes fail the layer, as in containerd', { timeout: 60_000 }, async () => {
  const good = gzipSync(payload);
  const padded = Buffer.concat([good, Buffer.alloc(10_240)]);
  assert.ok(gunzipSync(padded).equals(payload), "control: Node's zlib reads it");
  assert.ok((await through(decompressed(Readable.from([padded]), 'gzip'))).equals(payload));
  const garbage = Buffer.concat([good, Buffer.from('a second file')]);
  assert.throws(() => gunzipSync(garbage), "control: Node's zlib refuses it");
  await assert.rejects(through(decompressed(Readable.from([garbage]), 'gzip')), /gzip failed \(exit 2\)/);
});

test("a filter's output ends only after it exited well: all of its output then a failure is an error", { timeout: 60_000 }, async () => {
  const failing = ['sh', '-c', 'cat; exit 3'];
  await assert.rejects(through(filterThrough(failing, Readable.from([payload]))), /sh failed \(exit 3\)/);
  // Positive control: the same program exiting 0 delivers every byte.
  assert.ok((await through(filterThrough(['sh', '-c', 'cat; exit 0'], Readable.from([payload])))).equals(payload));
});

test('a failed input fails the output and ends the program', { timeout: 60_000 }, async () => {
  const input = new Readable({ read() {} });
  const out = filterThrough(['cat'], input);
  input.push(Buffer.from('some bytes'));
  setTimeout(() => input.destroy(new Error('the download broke off')), 50);
  await assert.rejects(through(out), /the download broke off/);
});
