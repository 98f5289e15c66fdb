/**
 * The SDK against a real server and real runtimes: the calls a user makes, with typed errors.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { Airlock, ExecFailedError, InvalidRequestError, InvalidStateError, NotFoundError, AirlockError, type Sandbox } from '@airlock/sdk';
import { TEST_KEY, recordSandbox, startTestServer, type TestServer } from '@airlock/testkit';

describe('SDK against a real server', { timeout: 10 * 60_000 }, () => {
  let t: TestServer;
  let airlock: Airlock;
  let sandbox: Sandbox;

  before(async () => {
    t = await startTestServer();
    airlock = new Airlock({ url: t.server.url, apiKey: TEST_KEY });
    sandbox = await airlock.sandboxes.create({ runtime: 'runc', metadata: { suite: 'sdk' }, env: { GREETING: 'hi' } });
    recordSandbox(sandbox.id);
  });
  after(async () => {
    await t?.close();
  });

  test('create, get and list', async () => {
    assert.equal(sandbox.state, 'running');
    const got = await airlock.sandboxes.get(sandbox.id);
    assert.equal(got.info.runtime, 'runc');
    const listed = await airlock.sandboxes.list({ labels: { suite: 'sdk' } });
    assert.deepEqual(
      listed.map((s) => s.id),
      [sandbox.id],
    );
  });

  test('buffered exec', async () => {
    const r = await sandbox.exec(['python3', '-c', 'import os; print(os.environ["GREETING"], 6*7)']);
    assert.deepEqual([r.stdout, r.exitCode, r.reason], ['hi 42\n', 0, 'exit']);
    const shell = await sandbox.exec('echo $((1+2)); exit 4');
    assert.deepEqual([shell.stdout, shell.exitCode], ['3\n', 4]);
  });

  test('streaming exec as an async iterator and with callbacks', async () => {
    const stream = await sandbox.execStream('for i in 1 2 3; do echo $i; sleep 0.05; done; echo done >&2');
    const seen: string[] = [];
    for await (const ev of stream) {
      if (ev.type === 'stdout' || ev.type === 'stderr') seen.push(`${ev.type}:${new TextDecoder().decode(ev.data)}`);
      if (ev.type === 'exit') seen.push(`exit:${ev.exitCode}`);
    }
    assert.deepEqual(seen, ['stdout:1\n', 'stdout:2\n', 'stdout:3\n', 'stderr:done\n', 'exit:0']);

    let out = '';
    const cb = await sandbox.execStream(['sh', '-c', 'echo callback; exit 2'], { onStdout: (d) => (out += new TextDecoder().decode(d)) });
    const exit = await cb.wait();
    assert.equal(out, 'callback\n');
    assert.equal(exit.exitCode, 2);
  });

  test('files', async () => {
    const bytes = new Uint8Array([0, 1, 2, 255, 254]);
    await sandbox.files.write('/home/user/data/bin.dat', bytes);
    assert.deepEqual(await sandbox.files.read('/home/user/data/bin.dat'), bytes);
    await sandbox.files.write('/tmp/hello.txt', 'hello sdk');
    assert.equal(await sandbox.files.readText('/tmp/hello.txt'), 'hello sdk');
    const entries = await sandbox.files.list('/home/user/data');
    assert.deepEqual(
      entries.map((e) => e.name),
      ['bin.dat'],
    );
  });

  test('typed errors carry the server code', async () => {
    await assert.rejects(airlock.sandboxes.get('sb-missing0000000000000'), (e: unknown) => e instanceof NotFoundError && e.code === 'not_found');
    await assert.rejects(
      airlock.sandboxes.create({ memoryMiB: -1 }),
      (e: unknown) => e instanceof InvalidRequestError && e instanceof AirlockError && e.status === 400,
    );
    await assert.rejects(sandbox.exec(['/nonexistent']), (e: unknown) => e instanceof ExecFailedError);
    await assert.rejects(sandbox.files.read('relative/path'), (e: unknown) => e instanceof InvalidRequestError);
  });

  test('destroy, then exec is an invalid state', async () => {
    const doomed = await airlock.sandboxes.create({ runtime: 'runc' });
    recordSandbox(doomed.id);
    await doomed.destroy();
    assert.equal(doomed.state, 'destroyed');
    await assert.rejects(doomed.exec(['true']), (e: unknown) => e instanceof InvalidStateError);
  });
});
