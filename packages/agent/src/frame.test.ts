import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, test } from 'node:test';
import { FrameDecoder, MAX_PAYLOAD, ProtocolError, encodeFrame } from './frame.js';
import { AgentFrame, decodeDirEntries, decodeError, decodeExited, encodeExec } from './messages.js';

describe('frame codec', { timeout: 60_000 }, () => {
  test('round-trips frames whatever the chunking', () => {
    const frames = Array.from({ length: 50 }, (_, i) => ({ type: 0x82, channel: i * 7919, payload: randomBytes(i * 37) }));
    const wire = Buffer.concat(frames.map((f) => encodeFrame(f.type, f.channel, f.payload)));
    for (const chunk of [1, 2, 9, 100, 4096, wire.length]) {
      const d = new FrameDecoder();
      const out = [];
      for (let off = 0; off < wire.length; off += chunk) out.push(...d.push(wire.subarray(off, off + chunk)));
      assert.equal(out.length, frames.length, `chunk ${chunk}`);
      out.forEach((f, i) => {
        assert.equal(f.channel, frames[i]!.channel);
        assert.ok(f.payload.equals(frames[i]!.payload));
      });
      assert.equal(d.buffered, 0);
    }
  });

  test('rejects lengths out of bounds before buffering them', () => {
    const tooBig = Buffer.alloc(9);
    tooBig.writeUInt32BE(5 + MAX_PAYLOAD + 1, 0);
    assert.throws(() => new FrameDecoder().push(tooBig), ProtocolError);
    const tooSmall = Buffer.from([0, 0, 0, 4, 0x82, 0, 0, 0]);
    assert.throws(() => new FrameDecoder().push(tooSmall), ProtocolError);
    assert.throws(() => encodeFrame(0x01, 1, Buffer.alloc(MAX_PAYLOAD + 1)), ProtocolError);
  });

  test('payload parsers check their bounds', () => {
    assert.throws(() => decodeExited(Buffer.alloc(7)), ProtocolError);
    const bad = Buffer.alloc(8);
    bad.writeUInt32BE(200, 4);
    assert.throws(() => decodeExited(bad), ProtocolError, 'a signal number out of range');
    assert.throws(() => decodeError(Buffer.from([0, 0, 0, 2, 0x41])), ProtocolError, 'an unterminated message');
    const entry = Buffer.alloc(21);
    entry.write('f', 0);
    assert.throws(() => decodeDirEntries(entry), ProtocolError, 'an entry without a name');
    const named = Buffer.concat([entry, Buffer.from('a.txt\0')]);
    assert.deepEqual(decodeDirEntries(named)[0]!.name, 'a.txt');
    const wrongKind = Buffer.from(named);
    wrongKind.write('z', 0);
    assert.throws(() => decodeDirEntries(wrongKind), ProtocolError);
    assert.equal(AgentFrame.Exited, 0x84);
  });

  test('refuses to send strings the agent would cut at a NUL', () => {
    assert.throws(() => encodeExec({ argv: ['a\0b'], env: [], cwd: '', user: '', keepStdin: false, id: 'p1' }), ProtocolError);
  });
});
