/**
 * Images from the CLI as a new user meets them: `airlock image pull` of a multi-layer image from a
 * loopback registry, then `airlock run --image … -- python3 …` on every runtime, a disk limit that
 * stops `dd`, and the image verbs.
 */
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { TEST_KEY, newDataDir, startTestServer, testRoot, type TestServer } from '@airlock/testkit';
import { buildImage, pushImage, readPythonRootfsTar, startRegistry, tarOf, writeOciLayout, type Registry } from '@airlock/testkit/image-fixtures.js';
import { runCli } from './run-cli.js';

describe('airlock image and run --image', { timeout: 10 * 60_000 }, () => {
  let t: TestServer;
  let registry: Registry;
  let env: NodeJS.ProcessEnv;
  let ref: string;

  const airlock = (args: string[]) => runCli(env, args);

  before(async () => {
    registry = await startRegistry(mkdtempSync(join(testRoot(), 'cli-registry-')));
    const extra = await tarOf([
      { name: 'app/', type: 'directory' },
      { name: 'app/main.py', body: 'print("from the image")\n' },
    ]);
    await pushImage(registry.host, 'team/py', '3', [readPythonRootfsTar(), extra], { workingDir: '/app' });
    ref = `${registry.host}/team/py:3`;
    t = await startTestServer(newDataDir());
    env = { PATH: process.env.PATH, AIRLOCK_URL: t.server.url, AIRLOCK_API_KEY: TEST_KEY };
  });
  after(async () => {
    await t?.close();
    await registry?.stop();
  });

  test('image pull reports progress and prints the image id', async () => {
    const r = await airlock(['image', 'pull', ref]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^sha256:[a-f0-9]{64}\n$/);
    assert.match(r.stderr, /layer 2\/2 unpacked/);
    const ls = await airlock(['image', 'ls']);
    assert.match(ls.stdout, new RegExp(`${ref.replace(/[.]/g, '\\.')}\\s+sha256:`));
  });

  test('run --image works on every runtime, in the image’s working directory', async () => {
    for (const runtime of ['runc', 'gvisor']) {
      const r = await airlock(['run', '--runtime', runtime, '--image', ref, '--', 'python3', 'main.py']);
      assert.deepEqual([r.code, r.stdout], [0, 'from the image\n'], `${runtime}: ${r.stderr}`);
    }
  });

  test('--disk 64 stops dd at about 64 MiB with a quota error inside', async () => {
    const r = await airlock([
      'run',
      '--runtime',
      'runc',
      '--image',
      ref,
      '--disk',
      '64',
      '--',
      'sh',
      '-c',
      'dd if=/dev/zero of=/f bs=1M count=128; stat -c %s /f',
    ]);
    assert.match(r.stderr, /Disk quota exceeded|No space left/);
    const mib = Number(r.stdout.trim()) / 2 ** 20;
    assert.ok(mib > 48 && mib <= 66, `wrote ${mib} MiB`);
  });

  test('run --image pulls an image on first use; rm and prune tidy up', async () => {
    const other = `${registry.host}/team/py@${(await pushImage(registry.host, 'team/py', 'other', [readPythonRootfsTar()])).digest}`;
    const r = await airlock(['run', '--runtime', 'runc', '--image', other, '--', 'true']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /pulled/);
    const rm = await airlock(['image', 'rm', ref]);
    assert.equal(rm.code, 0, rm.stderr);
    const prune = await airlock(['image', 'prune']);
    assert.match(prune.stdout, /removed 1 image/);
    const missing = await airlock(['image', 'inspect', ref]);
    assert.notEqual(missing.code, 0);
    assert.match(missing.stderr, /not in the local store/);
  });

  test('image import takes an OCI layout directory, for hosts without a registry', async () => {
    const dir = mkdtempSync(join(testRoot(), 'cli-layout-'));
    writeOciLayout(dir, buildImage([readPythonRootfsTar(), await tarOf([{ name: 'offline.txt', body: 'no registry\n' }])]));
    const imported = await airlock(['image', 'import', dir, '--tag', 'offline/py:1']);
    assert.equal(imported.code, 0, imported.stderr);
    assert.match(imported.stdout, /^docker\.io\/offline\/py:1\s+sha256:/);
    const r = await airlock(['run', '--runtime', 'runc', '--image', 'offline/py:1', '--', 'cat', '/offline.txt']);
    assert.deepEqual([r.code, r.stdout], [0, 'no registry\n'], r.stderr);
  });
});
