import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { createServer } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { encodeAnswer, parseQuery, RCODE } from './dns-message.js';
import { parseClientHello } from './tls-client-hello.js';

function query(labels: Buffer[], type = 1, flags = 0x0100): Buffer {
  const head = Buffer.alloc(12);
  head.writeUInt16BE(0xbeef, 0);
  head.writeUInt16BE(flags, 2);
  head.writeUInt16BE(1, 4);
  const tail = Buffer.from([0, type >> 8, type & 255, 0, 1]);
  return Buffer.concat([head, ...labels.map((l) => Buffer.concat([Buffer.from([l.length]), l])), tail]);
}

/** The ClientHello Node itself sends for `servername`, captured at a plain TCP listener. */
async function helloFor(servername: string | undefined): Promise<Buffer> {
  const server = createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const port = (server.address() as { port: number }).port;
  const got = new Promise<Buffer>((res) => server.once('connection', (s) => s.once('data', (d: Buffer) => (res(d), s.destroy()))));
  const c = tlsConnect({ host: '127.0.0.1', port, ...(servername ? { servername } : {}), rejectUnauthorized: false });
  c.on('error', () => {});
  const hello = await got;
  c.destroy();
  server.close();
  return hello;
}

describe('wire parsers: DNS questions and TLS ClientHellos', { timeout: 20_000 }, () => {
  test('a DNS question is parsed strictly and normalised; the answer echoes it', () => {
    const q = parseQuery(query([Buffer.from('PyPI'), Buffer.from('org')]));
    assert.ok(q && !('malformed' in q));
    assert.equal(q.name, 'pypi.org');
    assert.equal(q.rawName, 'PyPI.org');
    const a = encodeAnswer(q, RCODE.NOERROR, [{ address: 0x01020304, ttl: 60 }]);
    assert.equal(a.readUInt16BE(0), 0xbeef);
    assert.equal(a.readUInt16BE(2) & 0x800f, 0x8000);
    assert.equal(a.readUInt16BE(6), 1);
    assert.deepEqual([...a.subarray(a.length - 4)], [1, 2, 3, 4]);
  });

  test('odd questions are malformed, not reinterpreted', () => {
    const bad = [
      query([Buffer.from('a.b'), Buffer.from('test')]), // a dot inside a label
      query([Buffer.from([0x61, 0x00]), Buffer.from('test')]), // a NUL byte
      query([Buffer.from('x'.repeat(64))]), // over 63 (and a compression pointer's bits)
      query([Buffer.from('a')], 1, 0x2800), // opcode UPDATE
    ];
    for (const b of bad) {
      const q = parseQuery(b);
      assert.ok(q && 'malformed' in q, b.toString('hex'));
    }
    assert.equal(parseQuery(query([Buffer.from('a')], 1, 0x8000)), undefined, 'responses are never answered');
    assert.equal(parseQuery(Buffer.alloc(5)), undefined);
  });

  test('the SNI of a real ClientHello is read, in one piece or split; no SNI and garbage are told apart', async () => {
    const hello = await helloFor('api.example.com');
    assert.deepEqual(parseClientHello(hello), { kind: 'hello', serverName: 'api.example.com', ech: false });
    assert.deepEqual(parseClientHello(hello.subarray(0, 40)), { kind: 'incomplete' });
    const none = await helloFor(undefined);
    assert.deepEqual(parseClientHello(none), { kind: 'hello', serverName: undefined, ech: false });
    assert.equal(parseClientHello(Buffer.from('GET / HTTP/1.1\r\n')).kind, 'invalid');
    const lying = Buffer.from(hello);
    lying.writeUInt16BE(0xffff, 3); // a record length past the 16 KiB bound
    assert.equal(parseClientHello(lying).kind, 'invalid');
  });
});
