/**
 * The `airlock` command end to end, as a user runs it, against a real server.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { TEST_KEY, recordSandbox, startTestServer, type TestServer } from '@airlock/testkit';
import { isClean, remainsOf } from '@airlock/testkit/host-probe.js';
import { runCli, type Run } from './run-cli.js';

describe('airlock CLI end to end', { timeout: 10 * 60_000 }, () => {
  let t: TestServer;
  let env: NodeJS.ProcessEnv;

  const airlock = (args: string[], input?: string): Promise<Run> => runCli(env, args, input);

  before(async () => {
    t = await startTestServer();
    env = { PATH: process.env.PATH, AIRLOCK_URL: t.server.url, AIRLOCK_API_KEY: TEST_KEY };
  });
  after(async () => {
    await t?.close();
  });

  test('run prints the output and exits with the command code', async () => {
    const r = await airlock(['run', '--runtime', 'runc', '--', 'python3', '-c', 'print(6*7)']);
    assert.deepEqual([r.code, r.stdout], [0, '42\n'], r.stderr);
    const failing = await airlock(['run', '--runtime', 'runc', '--', 'sh', '-c', 'echo to-stderr >&2; exit 7']);
    assert.deepEqual([failing.code, failing.stderr.includes('to-stderr')], [7, true]);
    const none = (await t.api.call('GET', '/v1/sandboxes')).body.sandboxes;
    assert.equal(none.length, 0, 'run destroys its sandbox');
  });

  test('run on gVisor reports gVisor’s kernel', async () => {
    const r = await airlock(['run', '--runtime', 'gvisor', '--', 'uname', '-r']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, '4.4.0\n');
  });

  test('run reports a memory kill', async () => {
    const r = await airlock(['run', '--runtime', 'runc', '--memory', '128', '--', 'python3', '-c', 'x = bytearray(512 << 20)']);
    assert.equal(r.code, 137);
    assert.match(r.stderr, /memory/);
  });

  test('create, exec, ls, cp, rm', async () => {
    const created = await airlock(['create', '--runtime', 'runc', '--label', 'who=cli', '--env', 'X=1']);
    assert.equal(created.code, 0, created.stderr);
    const id = created.stdout.trim();
    recordSandbox(id);
    assert.match(id, /^sb-[a-z0-9]{24}$/);

    const exec = await airlock(['exec', id, '--', 'sh', '-c', 'echo $X; cat']);
    assert.deepEqual([exec.code, exec.stdout], [0, '1\n'], exec.stderr);
    const piped = await airlock(['exec', id, '--', 'tr', 'a-z', 'A-Z'], 'piped input');
    assert.equal(piped.stdout, 'PIPED INPUT');

    const ls = await airlock(['ls', '--json', '--label', 'who=cli']);
    assert.deepEqual(
      JSON.parse(ls.stdout).map((s: { id: string }) => s.id),
      [id],
    );
    const table = await airlock(['ls']);
    assert.match(table.stdout, new RegExp(`${id}\\s+runc\\s+running`));

    const local = mkdtempSync(join(tmpdir(), 'airlock-cp-'));
    writeFileSync(join(local, 'in.txt'), 'copied in');
    assert.equal((await airlock(['cp', join(local, 'in.txt'), `${id}:/tmp/in.txt`])).code, 0);
    assert.equal((await airlock(['exec', id, '--', 'cat', '/tmp/in.txt'])).stdout, 'copied in');
    assert.equal((await airlock(['cp', `${id}:/tmp/in.txt`, join(local, 'out.txt')])).code, 0);
    assert.equal(readFileSync(join(local, 'out.txt'), 'utf8'), 'copied in');

    rmSync(local, { recursive: true, force: true });
    const rm = await airlock(['rm', id]);
    assert.equal(rm.code, 0, rm.stderr);
    assert.ok(isClean(remainsOf(id, t.server.config.dataDir)), 'nothing of the sandbox is left after rm');
    const again = await airlock(['rm', 'sb-doesnotexist00000000']);
    assert.equal(again.code, 1);
    assert.match(again.stderr, /not_found|does not exist/);
  });

  test('errors are one line, not a stack trace', async () => {
    const r = await airlock(['run', '--runtime', 'docker', '--', 'true']);
    assert.notEqual(r.code, 0);
    assert.ok(!r.stderr.includes('    at '), r.stderr);
    assert.match(r.stderr, /^airlock: /m);
  });
});
