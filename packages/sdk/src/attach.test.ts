/**
 * The attach client against a socket that sends output at once: a server that writes its 101 and
 * the first frames in one packet (as a busy server replaying a journal does), so the frames reach
 * the client in the same read as the handshake, before the caller of `connect` has resumed. A
 * listener added right after `connect` still gets every byte, in order; a plain `ws` client that
 * subscribes at the same point loses them (the positive control).
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, test } from 'node:test';
import WebSocket from 'ws';
import { Attachment } from './attach.js';
import { HttpClient } from './http.js';

const LINES = Array.from({ length: 50 }, (_, i) => `request ${i + 1}\n`);

/** An unmasked server frame (opcode 1 text, 2 binary, 8 close) with a payload under 64 KiB. */
function frame(opcode: number, payload: Buffer): Buffer {
  const head =
    payload.length < 126 ? Buffer.from([0x80 | opcode, payload.length]) : Buffer.from([0x80 | opcode, 126, payload.length >> 8, payload.length & 0xff]);
  return Buffer.concat([head, payload]);
}

let server: Server;
let url = '';
before(async () => {
  server = createServer((_req, res) => res.writeHead(404).end());
  server.on('upgrade', (req, socket) => {
    const accept = createHash('sha1')
      .update(`${String(req.headers['sec-websocket-key'])}258EAFA5-E914-47DA-95CA-C5AB0DC85B11`)
      .digest('base64');
    const control = (msg: object) => frame(1, Buffer.from(JSON.stringify(msg)));
    const out = LINES.map((l) => frame(2, Buffer.concat([Buffer.from([0]), Buffer.from(l)])));
    const close = Buffer.from([0x03, 0xe8]); // 1000
    // Handshake, the attach, every output frame and the exit in one write: one packet on loopback.
    socket.write(
      Buffer.concat([
        Buffer.from(`HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${accept}\r\n\r\n`),
        control({ type: 'attached', id: 'proc-1', pid: 7, pty: false, size: null, offset: 0 }),
        ...out,
        control({ type: 'exit', exitCode: 0, signal: null, reason: 'exited' }),
        frame(8, close),
      ]),
    );
    socket.on('data', () => {});
    socket.on('error', () => {});
    setTimeout(() => socket.end(), 200);
  });
  server.listen(0, '127.0.0.1');
  await new Promise((r) => server.once('listening', r));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
after(() => new Promise<void>((r) => server.close(() => r())));

test('a listener added after connect resolves gets every byte from the start, in order', { timeout: 30_000 }, async () => {
  const http = new HttpClient({ url, apiKey: 'k', fetch: fetch as never, timeoutMs: undefined });
  const a = await Attachment.open(http, 'sb-1', 'proc-1', { offset: 0 });
  const got: string[] = [];
  a.onData((d) => got.push(Buffer.from(d).toString()));
  assert.equal((await a.wait()).exitCode, 0);
  assert.equal(got.join(''), LINES.join(''));
  assert.equal(a.offset, LINES.join('').length, 'offsets count what was delivered');
});

test('waiting with no listener lets the output go and resolves with the exit', { timeout: 30_000 }, async () => {
  const http = new HttpClient({ url, apiKey: 'k', fetch: fetch as never, timeoutMs: undefined });
  const a = await Attachment.open(http, 'sb-1', 'proc-1', { offset: 0 });
  assert.equal((await a.wait()).exitCode, 0);
  assert.equal(a.offset, LINES.join('').length);
});

test('control: a client that subscribes at the same point loses the frames that came with the handshake', { timeout: 30_000 }, async () => {
  const ws = new WebSocket(`${url.replace('http', 'ws')}/attach`);
  await new Promise((r) => ws.once('open', r));
  let frames = 0;
  ws.on('message', (_d, binary) => {
    if (binary) frames++;
  });
  await new Promise((r) => ws.once('close', r));
  assert.ok(frames < LINES.length, `the naive client saw ${frames} of ${LINES.length} frames`);
});
