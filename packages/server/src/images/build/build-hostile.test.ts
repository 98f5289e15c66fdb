/**
 * Hostile builds, judged on the host. COPY and the context cannot leave the context: symlinks
 * pointing out are never followed out, `..` and writes through links are refused, and a host
 * canary file never shows up in an image. RUN steps try escapes: host files, the host's loopback,
 * kernel knobs, mounts, a sparse file meant to fill the disk through the commit, and a symlink
 * planted for a later COPY --from. Each probe has its positive control.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { newDataDir, startTestServer, testRoot, type TestServer } from '@airlock/testkit/harness.js';
import { build, context, leftovers, startBaseRegistry, type BaseRegistry } from '@airlock/testkit/build-fixtures.js';
import { startRegistryStub, type RegistryStub } from '@airlock/testkit/registry-stub.js';

let env: BaseRegistry;
let srv: TestServer;
let canaryDir: string;
let canary: string;
let watch: RegistryStub;
const SECRET = `host-canary-${Math.random().toString(36).slice(2)}`;

async function run(image: string, cmd: string): Promise<string> {
  const sb = await srv.api.create({ image, runtime: 'runc' });
  try {
    return (await srv.api.exec(sb.id, { cmd: ['sh', '-c', cmd] })).stdout;
  } finally {
    await srv.api.call('DELETE', `/v1/sandboxes/${sb.id}`);
  }
}

before(async () => {
  env = await startBaseRegistry();
  watch = await startRegistryStub(env.registry.host);
  srv = await startTestServer(newDataDir('hostile'), { defaultDiskMiB: 256 });
  canaryDir = mkdtempSync(join(testRoot(), 'canary-'));
  canary = join(canaryDir, 'secret');
  writeFileSync(canary, SECRET);
});

after(async () => {
  await srv?.close();
  await watch?.close();
  await env?.registry.stop();
  if (canaryDir) rmSync(canaryDir, { recursive: true, force: true });
});

describe('hostile builds', { timeout: 900_000 }, () => {
  test('COPY of a symlink that points out of the context finds nothing; the same COPY of a real file works', async () => {
    const links = [
      { name: 'abs', type: 'symlink' as const, linkname: canary },
      { name: 'rel', type: 'symlink' as const, linkname: `../../../../../../../..${canary}` },
      { name: 'dir', type: 'symlink' as const, linkname: canaryDir },
    ];
    for (const src of ['abs', 'rel', 'dir/secret']) {
      const r = await build(srv, context(`FROM ${env.base}\nCOPY ${src} /stolen\n`, {}, links));
      assert.equal(r.error?.code, 'invalid_request', `${src}: ${JSON.stringify(r.error)}`);
      assert.match(r.error!.message, /does not exist in the build context/);
    }
    const control = await build(srv, context(`FROM ${env.base}\nCOPY real /stolen\n`, { real: SECRET }), { tag: 'hostile/control:1' });
    assert.equal(control.error, undefined, 'positive control: a real file is copied');
    assert.equal(await run('hostile/control:1', 'cat /stolen'), SECRET);

    // Copied as they are, symlinks stay symlinks: their text, never the host file behind it.
    const kept = await build(
      srv,
      context(
        `FROM ${env.base}\nCOPY links/ /links/\n`,
        {},
        links.map((l) => ({ ...l, name: `links/${l.name}` })),
      ),
      { tag: 'hostile/links:1' },
    );
    assert.equal(kept.error, undefined, JSON.stringify(kept.error));
    assert.equal(await run('hostile/links:1', `readlink /links/abs; cat /links/abs /links/rel /links/dir/secret 2>/dev/null; echo end`), `${canary}\nend\n`);
  });

  test('a context that climbs out, writes through a symlink or hard-links out is refused, and the host is untouched', async () => {
    const cases = [
      [{ name: '../../escape', body: 'x' }],
      [{ name: `/${canaryDir.slice(1)}/abs-name`, body: 'x' }],
      [
        { name: 'door', type: 'symlink' as const, linkname: canaryDir },
        { name: 'door/pwned', body: 'x' },
      ],
      [{ name: 'hard', type: 'link' as const, linkname: canary }],
    ];
    for (const entries of cases) {
      const r = await build(srv, [...context('FROM scratch\nCOPY . /\n'), ...entries]);
      assert.equal(r.status, 400, JSON.stringify(entries));
    }
    assert.deepEqual(readdirSync(canaryDir), ['secret'], 'nothing was written next to the canary');
    assert.equal(readFileSync(canary, 'utf8'), SECRET);
    assert.deepEqual(await leftovers(srv), []);
  });

  test('RUN escapes: host files, host loopback, kernel knobs and mounts all fail; the host is unchanged', async () => {
    const port = watch.host.split(':')[1];
    const probes = [
      `cat ${canary} && echo READ-HOST-FILE`,
      `cat /proc/1/root${canary} && echo READ-VIA-PROC`,
      `python3 -c "import socket; socket.create_connection(('127.0.0.1', ${port}), timeout=3)" && echo REACHED-HOST-LOOPBACK`,
      `echo pwned > /proc/sys/kernel/hostname && echo WROTE-HOSTNAME`,
      `mkdir -p /mnt/x && mount -t tmpfs none /mnt/x && echo MOUNTED`,
      `mknod /dev-node c 1 3 && echo MKNOD`,
    ];
    const before = watch.requests.length;
    const hostName = hostname();
    const df = `FROM ${env.base}\nRUN ${probes.map((p) => `(${p} || true)`).join(' ; ')} ; echo probes-done\n`;
    const r = await build(srv, context(df), { tag: 'hostile/run:1' });
    assert.equal(r.error, undefined, JSON.stringify(r.error));
    const out = r.events
      .filter((e) => e.type === 'output')
      .map((e) => e.data)
      .join('');
    assert.match(out, /probes-done/, 'positive control: the step ran and reported');
    for (const marker of ['READ-HOST-FILE', 'READ-VIA-PROC', 'REACHED-HOST-LOOPBACK', 'WROTE-HOSTNAME', 'MOUNTED', 'MKNOD'])
      assert.doesNotMatch(out, new RegExp(marker));
    assert.equal(watch.requests.length, before, 'nothing reached the host loopback');
    assert.equal(hostname(), hostName, "the host's hostname is unchanged");
    assert.equal(readFileSync(canary, 'utf8'), SECRET);
    // Positive control for the loopback probe: the host itself reaches it.
    assert.equal((await fetch(`http://${watch.host}/v2/`)).status, 200);
    assert.ok(watch.requests.length > before);
  });

  test('a symlink a RUN plants is resolved inside its stage by a later COPY --from, never on the host', async () => {
    const df = `FROM ${env.base} AS planted\nRUN ln -s /etc/shadow /leak && ln -s ${canary} /leak-canary\nFROM ${env.base}\nCOPY --from=planted /leak /got-shadow\n`;
    const r = await build(srv, context(df), { tag: 'hostile/planted:1' });
    assert.equal(r.error, undefined, JSON.stringify(r.error));
    const got = await run('hostile/planted:1', 'sha256sum /got-shadow /etc/shadow | cut -c1-64');
    const [copied, imageShadow] = got.trim().split('\n');
    assert.equal(copied, imageShadow, "what was copied is the stage's own /etc/shadow");
    assert.notEqual(copied, createHash('sha256').update(readFileSync('/etc/shadow')).digest('hex'), "not the host's");
    const canaryCopy = await build(srv, context(`${df}COPY --from=planted /leak-canary /got-canary\n`));
    assert.equal(canaryCopy.error?.code, 'invalid_request', 'the canary path does not exist inside the stage');
  });

  test('a sparse file cannot turn a small disk limit into a huge layer', async () => {
    const r = await build(srv, context(`FROM ${env.base}\nRUN truncate -s 100G /sparse && echo made\n`), { tag: 'hostile/sparse:1' });
    assert.equal(r.error?.code, 'build_failed');
    assert.match(r.error!.message, /over the \d+-byte limit of a layer/);
    assert.deepEqual(await leftovers(srv), []);
    assert.ok(!existsSync(join(srv.server.config.dataDir, 'images', 'store', 'fs', 'tmp', 'sparse')));
  });
});
