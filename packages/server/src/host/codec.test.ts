/**
 * Layer and archive codecs as the programs run them: what Node's zlib made still decompresses and
 * what the gzip program makes Node's zlib still reads (layers pulled and pushed before and after
 * the move out of the server), a build's layer bytes depend on content alone, corrupt input fails
 * the stream instead of ending it as if complete, and what gzip accepts after its last member. A
 * project's codec runs in the project's cgroup (judged from the program's own /proc entry).
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { buffer } from 'node:stream/consumers';
import { test } from 'node:test';
import { gunzipSync, gzipSync } from 'node:zlib';
import { CGROUP_PARENT, OPS_LEAF, cgroupVersion, projectCgroupName } from './cgroups.js';
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

test("a project's codec runs in the project's ops leaf, and the level it made goes when the program does", { timeout: 60_000 }, async () => {
  const project = `codec-${randomBytes(4).toString('hex')}`;
  const level =
    cgroupVersion() === 2
      ? join('/sys/fs/cgroup', CGROUP_PARENT, projectCgroupName(project))
      : join('/sys/fs/cgroup/cpu', CGROUP_PARENT, projectCgroupName(project));
  const bytes = gzipSync(payload);
  /** The cgroup line (the cpu one on v1) of the gzip this process is running, while its input is held open. */
  const whereGzipRuns = async (charge: string | undefined): Promise<string> => {
    const input = new Readable({ read() {} });
    const out = decompressed(input, 'gzip', charge);
    input.push(bytes.subarray(0, 1000));
    const done = through(out);
    let line: string | undefined;
    for (let i = 0; i < 100 && line === undefined; i++) {
      await new Promise((r) => setTimeout(r, 20));
      const pid = readdirSync('/proc').find((p) => /^\d+$/.test(p) && isGzipChild(Number(p)));
      if (pid !== undefined)
        line = readFileSync(`/proc/${pid}/cgroup`, 'utf8')
          .split('\n')
          .find((l) => (cgroupVersion() === 2 ? l.startsWith('0::') : /:(.*,)?cpu(,.*)?:/.test(l)));
    }
    input.push(bytes.subarray(1000));
    input.push(null);
    assert.ok((await done).equals(payload), 'all of it decompressed, charged or not');
    return line ?? 'gzip not found';
  };
  // Positive control: without a project it runs where this process runs, in no project's leaf.
  assert.doesNotMatch(await whereGzipRuns(undefined), /project-/);
  assert.match(await whereGzipRuns(project), new RegExp(`/${CGROUP_PARENT}/${projectCgroupName(project)}/${OPS_LEAF}$`));
  // Its failure names the codec, not the shell that joined the cgroup for it.
  await assert.rejects(through(decompressed(Readable.from([Buffer.from('not gzip at all')]), 'gzip', project)), /^Error: gzip failed \(exit \d\)/);
  await new Promise((r) => setTimeout(r, 50));
  assert.ok(!existsSync(level), `the level ${level} it made is removed once gzip is gone`);
});

function isGzipChild(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
    return ppid === process.pid && readFileSync(`/proc/${pid}/cmdline`, 'utf8').startsWith('gzip\0');
  } catch {
    return false;
  }
}
