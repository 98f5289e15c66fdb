import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { AirlockError, ConnectionError, InvalidStateError, NotFoundError } from './errors.js';
import { decodeBase64, encodeBase64, ExecStream, parseEvent, readLines, type ExecStreamEvent } from './exec-stream.js';

const enc = new TextEncoder();

function streamOf(chunks: (string | Uint8Array)[]): ReadableStream<Uint8Array> {
  const queue = chunks.map((c) => (typeof c === 'string' ? enc.encode(c) : c));
  return new ReadableStream({
    pull(controller) {
      const next = queue.shift();
      if (next === undefined) controller.close();
      else controller.enqueue(next);
    },
  });
}

async function collect<T>(iterable: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const item of iterable) out.push(item);
  return out;
}

const b64 = (s: string) => Buffer.from(s).toString('base64');

describe('readLines', { timeout: 60_000 }, () => {
  it('joins lines split across chunks and splits several lines in one chunk', async () => {
    const lines = await collect(readLines(streamOf(['{"a":', '1}\n{"b"', ':2}\n{"c":3}\n{"d"', ':4}\n'])));
    assert.deepEqual(lines, ['{"a":1}', '{"b":2}', '{"c":3}', '{"d":4}']);
  });

  it('handles CRLF, a last line without newline, and UTF-8 split mid-character', async () => {
    const euro = enc.encode('€'); // 3 bytes
    const lines = await collect(readLines(streamOf(['x\r\n', euro.subarray(0, 1), euro.subarray(1), '\ntail'])));
    assert.deepEqual(lines, ['x', '€', 'tail']);
  });

  it('rejects a line above the bound, also when it spans chunks', async () => {
    await assert.rejects(collect(readLines(streamOf(['12345', '678\n']), 6)), (e) => e instanceof AirlockError && /longer than 6/.test(e.message));
    await assert.rejects(collect(readLines(streamOf(['1234567\n']), 6)), AirlockError);
    assert.deepEqual(await collect(readLines(streamOf(['123456\n']), 6)), ['123456']);
  });

  it('cancels the stream when the consumer stops early', async () => {
    let cancelled = false;
    const stream = new ReadableStream<Uint8Array>({
      pull: (c) => c.enqueue(enc.encode('line\n')),
      cancel: () => {
        cancelled = true;
      },
    });
    for await (const line of readLines(stream)) {
      assert.equal(line, 'line');
      break;
    }
    assert.ok(cancelled);
  });
});

describe('parseEvent', { timeout: 60_000 }, () => {
  it('decodes base64 data to bytes', () => {
    const event = parseEvent(`{"type":"stdout","data":"${encodeBase64(new Uint8Array([0, 255, 10]))}"}`);
    assert.deepEqual(event, { type: 'stdout', data: new Uint8Array([0, 255, 10]) });
    assert.deepEqual(decodeBase64(''), new Uint8Array(0));
  });

  it('reads exit, ignores unknown types, throws typed in-stream errors', () => {
    assert.deepEqual(parseEvent('{"type":"exit","exitCode":null,"signal":9,"reason":"signal","durationMs":3.5}'), {
      type: 'exit',
      exitCode: null,
      signal: 9,
      reason: 'signal',
      durationMs: 3.5,
    });
    assert.equal(parseEvent('{"type":"progress"}'), undefined);
    assert.throws(() => parseEvent('{"type":"error","code":"not_found","message":"gone"}'), NotFoundError);
    assert.throws(
      () => parseEvent('{"type":"error","code":"weird","message":"?"}'),
      (e) => e instanceof AirlockError && e.code === 'internal',
    );
    assert.throws(() => parseEvent('not json'), AirlockError);
  });
});

describe('ExecStream', { timeout: 60_000 }, () => {
  const lines = [
    '{"type":"start","pid":12}\n',
    `{"type":"stdout","data":"${b64('hi\n')}"}\n{"type":"stderr","da`,
    `ta":"${b64('oops')}"}\n`,
    '{"type":"exit","exitCode":3,"signal":null,"reason":"exit","durationMs":1.5}\n',
  ];

  it('iterates the decoded events and then resolves wait()', async () => {
    const stream = new ExecStream(streamOf(lines));
    const events: ExecStreamEvent[] = await collect(stream);
    assert.deepEqual(
      events.map((e) => e.type),
      ['start', 'stdout', 'stderr', 'exit'],
    );
    assert.deepEqual(events[1], { type: 'stdout', data: enc.encode('hi\n') });
    assert.deepEqual(await stream.wait(), { exitCode: 3, signal: null, reason: 'exit', durationMs: 1.5 });
  });

  it('wait() drains the stream through the callbacks', async () => {
    const out: string[] = [];
    const err: string[] = [];
    const stream = new ExecStream(streamOf(lines), {
      onStdout: (d) => out.push(Buffer.from(d).toString()),
      onStderr: (d) => err.push(Buffer.from(d).toString()),
    });
    const exit = await stream.wait();
    assert.equal(exit.exitCode, 3);
    assert.deepEqual(out, ['hi\n']);
    assert.deepEqual(err, ['oops']);
    assert.throws(() => stream[Symbol.asyncIterator](), InvalidStateError);
  });

  it('throws the typed error of an in-stream error event, from the iterator and wait()', async () => {
    const stream = new ExecStream(streamOf([lines[0]!, '{"type":"error","code":"runtime_error","message":"sandbox died"}\n']));
    await assert.rejects(collect(stream), (e) => e instanceof AirlockError && e.code === 'runtime_error');
    await assert.rejects(stream.wait(), (e) => e instanceof AirlockError && e.code === 'runtime_error');
  });

  it('fails when the stream ends before the exit event', async () => {
    await assert.rejects(new ExecStream(streamOf([lines[0]!])).wait(), ConnectionError);
  });

  it('maps read failures through mapError', async () => {
    const broken = new ReadableStream<Uint8Array>({ pull: (c) => c.error(new TypeError('terminated')) });
    const stream = new ExecStream(broken, {}, (e) => new ConnectionError('mapped', { cause: e }));
    await assert.rejects(stream.wait(), (e) => e instanceof ConnectionError && e.message === 'mapped');
  });
});
