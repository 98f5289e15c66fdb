import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Airlock } from './client.js';
import { ExecFailedError, NotFoundError } from './errors.js';
import { buildExecRequest } from './exec-request.js';
import { FakeFetch, INFO, jsonResponse, streamResponse } from './fake-fetch.js';

const URL = 'http://airlock.test:7070';
const SB = `${URL}/v1/sandboxes/${INFO.id}`;
const b64 = (s: string) => Buffer.from(s).toString('base64');

async function sandbox(fake: FakeFetch) {
  fake.expect('GET', SB, () => jsonResponse(200, INFO));
  const airlock = new Airlock({ url: URL, apiKey: 'k', fetch: fake.fetch });
  return airlock.sandboxes.get(INFO.id);
}

describe('buildExecRequest', { timeout: 60_000 }, () => {
  it('keeps argv as an array and a string as a shell command', () => {
    assert.deepEqual(buildExecRequest(['echo', 'a b']), { cmd: ['echo', 'a b'] });
    assert.deepEqual(buildExecRequest('echo $HOME'), { cmd: 'echo $HOME' });
  });

  it('sends only the fields given, and bytes stdin as base64', () => {
    const controller = new AbortController();
    assert.deepEqual(buildExecRequest(['cat'], { stdin: new Uint8Array([104, 105, 0]), cwd: '/tmp', timeout: 5, signal: controller.signal }), {
      cmd: ['cat'],
      cwd: '/tmp',
      stdin: 'aGkA',
      stdinEncoding: 'base64',
      timeout: 5,
    });
    assert.deepEqual(buildExecRequest(['cat'], { stdin: 'text', env: { A: '1' }, user: 'root', encoding: 'base64', maxOutputBytes: 10 }), {
      cmd: ['cat'],
      stdin: 'text',
      env: { A: '1' },
      user: 'root',
      encoding: 'base64',
      maxOutputBytes: 10,
    });
  });
});

describe('Sandbox', { timeout: 60_000 }, () => {
  it('exec posts the request and returns the result', async () => {
    const fake = new FakeFetch();
    const sb = await sandbox(fake);
    const result = {
      stdout: '42\n',
      stderr: '',
      encoding: 'utf8',
      exitCode: 0,
      signal: null,
      reason: 'exit',
      stdoutTruncated: false,
      stderrTruncated: false,
      durationMs: 4,
    };
    fake.expect('POST', `${SB}/exec`, () => jsonResponse(200, result));
    assert.deepEqual(await sb.exec(['python3', '-c', 'print(6*7)'], { timeout: 10 }), result);
    assert.deepEqual(fake.requests[1]?.json(), { cmd: ['python3', '-c', 'print(6*7)'], timeout: 10 });
    fake.assertExhausted();
  });

  it('exec throws ExecFailedError when the command cannot start', async () => {
    const fake = new FakeFetch();
    const sb = await sandbox(fake);
    fake.expect('POST', `${SB}/exec`, () => jsonResponse(422, { code: 'exec_failed', message: 'No such file or directory' }));
    await assert.rejects(sb.exec(['nope']), ExecFailedError);
  });

  it('refresh and destroy update the info', async () => {
    const fake = new FakeFetch();
    const sb = await sandbox(fake);
    fake.expect('GET', SB, () => jsonResponse(200, { ...INFO, state: 'stopped' }));
    fake.expect('DELETE', SB, () => jsonResponse(200, { ...INFO, state: 'destroyed', stopReason: 'destroyed' }));
    assert.equal((await sb.refresh()).state, 'stopped');
    await sb.destroy();
    assert.equal(sb.state, 'destroyed');
    assert.equal(sb.info.stopReason, 'destroyed');
    fake.assertExhausted();
  });

  it('execStream streams events and wait() gives the exit', async () => {
    const fake = new FakeFetch();
    const sb = await sandbox(fake);
    fake.expect('POST', `${SB}/exec/stream`, () =>
      streamResponse([
        '{"type":"start","pid":7}\n{"type":"stdout","data":"',
        `${b64('a')}"}\n`,
        `{"type":"stdout","data":"${b64('b')}"}\n{"type":"exit","exitCode":0,"signal":null,"reason":"exit","durationMs":2}\n`,
      ]),
    );
    const chunks: string[] = [];
    const stream = await sb.execStream(['sh', '-c', 'echo a; echo b'], { onStdout: (d) => chunks.push(Buffer.from(d).toString()) });
    assert.deepEqual(fake.requests[1]?.json(), { cmd: ['sh', '-c', 'echo a; echo b'] });
    assert.equal((await stream.wait()).exitCode, 0);
    assert.deepEqual(chunks, ['a', 'b']);
  });

  it('execStream throws pre-start errors from the call itself', async () => {
    const fake = new FakeFetch();
    const sb = await sandbox(fake);
    fake.expect('POST', `${SB}/exec/stream`, () => jsonResponse(404, { code: 'not_found', message: 'gone' }));
    await assert.rejects(sb.execStream(['ls']), NotFoundError);
  });

  it('aborting the signal aborts the stream mid-way', async () => {
    const fake = new FakeFetch();
    const sb = await sandbox(fake);
    const controller = new AbortController();
    fake.expect('POST', `${SB}/exec/stream`, (req) => streamResponse(['{"type":"start","pid":7}\n'], { signal: req.signal, hold: true }));
    const stream = await sb.execStream(['sleep', '100'], { signal: controller.signal });
    const seen: string[] = [];
    await assert.rejects(
      (async () => {
        for await (const event of stream) {
          seen.push(event.type);
          controller.abort();
        }
      })(),
      { name: 'AbortError' },
    );
    assert.deepEqual(seen, ['start']);
    await assert.rejects(stream.wait(), { name: 'AbortError' });
  });

  it('files: write PUTs raw bytes with mode and user, read and list GET', async () => {
    const fake = new FakeFetch();
    const sb = await sandbox(fake);
    fake.expect('PUT', `${SB}/files?path=%2Fhome%2Fuser%2Fa+b.txt&mode=644&user=root`, () => jsonResponse(200, { path: '/home/user/a b.txt', bytes: 2 }));
    fake.expect('GET', `${SB}/files?path=%2Fbin%2Fx`, () => new Response(new Uint8Array([0, 1, 2])));
    fake.expect('GET', `${SB}/files?path=%2Fetc%2Fhostname`, () => new Response('box\n'));
    fake.expect('GET', `${SB}/files/list?path=%2Ftmp`, () =>
      jsonResponse(200, { path: '/tmp', entries: [{ name: 'f', type: 'file', size: 1, mode: 420, mtime: 'x' }] }),
    );
    fake.expect('GET', `${SB}/files?path=%2Fnope`, () => jsonResponse(404, { code: 'not_found', message: 'no such file' }));
    assert.deepEqual(await sb.files.write('/home/user/a b.txt', 'hi', { mode: 0o644, user: 'root' }), { path: '/home/user/a b.txt', bytes: 2 });
    const put = fake.requests[1];
    assert.equal(put?.headers['content-type'], 'application/octet-stream');
    assert.equal(put?.text(), 'hi');
    assert.deepEqual(await sb.files.read('/bin/x'), new Uint8Array([0, 1, 2]));
    assert.equal(await sb.files.readText('/etc/hostname'), 'box\n');
    assert.equal((await sb.files.list('/tmp'))[0]?.name, 'f');
    await assert.rejects(sb.files.read('/nope'), NotFoundError);
    fake.assertExhausted();
  });
});
