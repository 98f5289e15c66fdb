/**
 * The hostile frames of group J against the server's real AgentConnection, with no sandbox: each
 * crafted frame alone, the random frames alone and the whole attack blob must close the connection
 * with an AgentProtocolError. (The security suite checks the same end to end, through a shim.)
 */
import assert from 'node:assert/strict';
import { Duplex } from 'node:stream';
import { describe, test } from 'node:test';
import { AgentFrame, FrameDecoder, HostFrame, encodeFrame } from '@airlock/agent';
import { AgentConnection } from '@airlock/server/internal/agent-channel/agent-connection.js';
import { AgentProtocolError } from '@airlock/server/internal/agent-channel/errors.js';
import { CRAFTED_FRAMES, attackBlob, framesWritten, randomFrames } from './hostile-frames.js';

/** An agent that only answers PING; `inject` writes bytes as if it had sent them. */
function fakeAgent(): { stream: Duplex; inject(b: Buffer): void } {
  const decoder = new FrameDecoder();
  const stream = new Duplex({
    read() {},
    write(chunk: Buffer, _enc, done) {
      for (const f of decoder.push(chunk)) if (f.type === HostFrame.Ping) stream.push(encodeFrame(AgentFrame.Pong, f.channel, f.payload));
      done();
    },
  });
  stream.push(encodeFrame(AgentFrame.Hello, 0, Buffer.from('fake\0')));
  return { stream, inject: (b) => stream.push(b) };
}

async function caught(bytes: Buffer): Promise<Error> {
  const agent = fakeAgent();
  const conn = await AgentConnection.connect({ endpoint: 'fake', open: async () => agent.stream }, { timeoutMs: 2000 });
  const closed = new Promise<Error>((resolve) => conn.onClose(resolve));
  agent.inject(bytes);
  // The agent's own traffic after the frame: what a frame cut short waits for.
  await conn.ping(500).catch(() => {});
  return closed;
}

describe('hostile frames against the agent connection', { timeout: 30_000 }, () => {
  for (const f of CRAFTED_FRAMES) {
    test(`${f.name} (${f.why}) is a protocol violation`, async () => {
      const err = await caught(f.bytes);
      assert.ok(err instanceof AgentProtocolError, `${err.name}: ${err.message}`);
    });
  }

  test('random frames alone are a protocol violation', async () => {
    const err = await caught(Buffer.concat(randomFrames(12345).map((f) => f.bytes)));
    assert.ok(err instanceof AgentProtocolError, err.message);
  });

  test('the attack blob starts at each crafted frame in turn and counts what got through', () => {
    const a = attackBlob(7, 0);
    const b = attackBlob(7, 3);
    assert.equal(a.blob.length, b.blob.length);
    assert.ok(b.blob.subarray(0, CRAFTED_FRAMES[3]!.bytes.length).equals(CRAFTED_FRAMES[3]!.bytes));
    assert.equal(framesWritten(a.ends, a.blob.length), a.frames);
    assert.equal(framesWritten(a.ends, a.ends[0]! - 1), 0);
    assert.ok(attackBlob(7).blob.equals(attackBlob(7).blob), 'the same seed gives the same bytes');
  });

  test('control: valid traffic alone does not close the connection', async () => {
    const agent = fakeAgent();
    const conn = await AgentConnection.connect({ endpoint: 'fake', open: async () => agent.stream }, { timeoutMs: 2000 });
    await conn.ping(500);
    assert.equal(conn.closed, false);
    conn.close();
  });
});
