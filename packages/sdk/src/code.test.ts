import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Airlock } from './client.js';
import { FakeFetch, INFO, jsonResponse, streamResponse } from './fake-fetch.js';

const URL = 'http://airlock.test:7070';
const SB = `${URL}/v1/sandboxes/${INFO.id}`;
const lines = (...events: object[]) => events.map((e) => `${JSON.stringify(e)}\n`).join('');

async function sandbox(fake: FakeFetch) {
  fake.expect('GET', SB, () => jsonResponse(200, INFO));
  return new Airlock({ url: URL, apiKey: 'k', fetch: fake.fetch }).sandboxes.get(INFO.id);
}

describe('runCode', { timeout: 60_000 }, () => {
  it('streams NDJSON to the callbacks and resolves with the Execution', async () => {
    const fake = new FakeFetch();
    const sb = await sandbox(fake);
    const body = lines(
      { type: 'start', context: 'ctx-1', language: 'python' },
      { type: 'stdout', text: 'a' },
      { type: 'result', isMainResult: false, png: 'iVBO' },
      { type: 'stderr', text: 'w' },
      { type: 'error', name: 'ValueError', value: 'v', traceback: 'tb' },
      { type: 'end', executionCount: 3, durationMs: 5, stdoutTruncated: false, stderrTruncated: true, resultsDropped: 0 },
    );
    // Split across chunks in the middle of a line.
    fake.expect('POST', `${SB}/code/run`, () => streamResponse([body.slice(0, 50), body.slice(50)]));
    const seen: string[] = [];
    const ex = await sb.runCode('x', {
      context: { id: 'ctx-1' },
      timeoutMs: 1000,
      onStdout: (t) => seen.push(`out:${t}`),
      onStderr: (t) => seen.push(`err:${t}`),
      onResult: (r) => seen.push(`result:${r.png}`),
      onError: (e) => seen.push(`error:${e.name}`),
    });
    assert.deepEqual(seen, ['out:a', 'result:iVBO', 'err:w', 'error:ValueError']);
    assert.deepEqual(ex, {
      results: [{ isMainResult: false, png: 'iVBO' }],
      logs: { stdout: ['a'], stderr: ['w'] },
      error: { name: 'ValueError', value: 'v', traceback: 'tb' },
      executionCount: 3,
      context: 'ctx-1',
      durationMs: 5,
      stdoutTruncated: false,
      stderrTruncated: true,
      resultsDropped: 0,
    });
    const req = fake.requests.at(-1)!;
    assert.equal(req.headers.accept, 'application/x-ndjson');
    assert.deepEqual(req.json(), { code: 'x', context: 'ctx-1', timeoutMs: 1000 });
    fake.assertExhausted();
  });

  it('a stream cut before its end event is an error, not a silent partial result', async () => {
    const fake = new FakeFetch();
    const sb = await sandbox(fake);
    fake.expect('POST', `${SB}/code/run`, () =>
      streamResponse([lines({ type: 'start', context: 'default-python', language: 'python' }, { type: 'stdout', text: 'a' })]),
    );
    await assert.rejects(sb.runCode('x'), /without its end event/);
  });

  it('refusals are typed errors: an unknown context is NotFoundError', async () => {
    const fake = new FakeFetch();
    const sb = await sandbox(fake);
    fake.expect('POST', `${SB}/code/run`, () => jsonResponse(404, { code: 'not_found', message: 'no code context ctx-x' }));
    await assert.rejects(sb.runCode('x', { context: 'ctx-x' }), (e: Error) => e.name === 'NotFoundError');
  });
});
