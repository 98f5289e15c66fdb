/**
 * @module tls-client-hello
 * The server name (SNI) of a TLS ClientHello, read from the first bytes a sandbox sends, bounded
 * (16 KiB) and strict. A hello that carries an ECH extension (its real name is encrypted; the
 * clear SNI is only the public front) is reported as such, so the proxy can refuse it.
 */
export const MAX_HELLO_BYTES = 16 * 1024;
const EXT_SERVER_NAME = 0x0000;
const EXT_ECH = 0xfe0d;

export type Hello = { kind: 'incomplete' } | { kind: 'invalid'; reason: string } | { kind: 'hello'; serverName: string | undefined; ech: boolean };

/** Parses what has arrived so far (possibly several TLS records holding one handshake message). */
export function parseClientHello(buf: Buffer): Hello {
  // Reassemble the handshake bytes from consecutive handshake records.
  const hs: Buffer[] = [];
  let hsLen = 0;
  let off = 0;
  let need: number | undefined;
  while (off + 5 <= buf.length) {
    if (buf[off] !== 0x16) return { kind: 'invalid', reason: 'not a TLS handshake record' };
    if (buf[off + 1] !== 0x03) return { kind: 'invalid', reason: 'not a TLS record version' };
    const len = buf.readUInt16BE(off + 3);
    if (len === 0 || len > 16384 + 256) return { kind: 'invalid', reason: 'bad TLS record length' };
    if (off + 5 + len > buf.length) break;
    hs.push(buf.subarray(off + 5, off + 5 + len));
    hsLen += len;
    off += 5 + len;
    if (need === undefined && hsLen >= 4) {
      const h = Buffer.concat(hs);
      if (h[0] !== 0x01) return { kind: 'invalid', reason: 'first handshake message is not a ClientHello' };
      need = 4 + h.readUIntBE(1, 3);
      if (need > MAX_HELLO_BYTES) return { kind: 'invalid', reason: 'ClientHello larger than 16 KiB' };
    }
    if (need !== undefined && hsLen >= need) return parseHelloBody(Buffer.concat(hs).subarray(4, need));
  }
  if (buf.length >= 1 && buf[0] !== 0x16) return { kind: 'invalid', reason: 'not a TLS handshake record' };
  return buf.length >= MAX_HELLO_BYTES ? { kind: 'invalid', reason: 'no complete ClientHello in 16 KiB' } : { kind: 'incomplete' };
}

function parseHelloBody(b: Buffer): Hello {
  const bad = (reason: string): Hello => ({ kind: 'invalid', reason });
  let o = 2 + 32; // client_version, random
  if (o + 1 > b.length) return bad('truncated ClientHello');
  o += 1 + b[o]!; // session id
  if (o + 2 > b.length) return bad('truncated ClientHello');
  o += 2 + b.readUInt16BE(o); // cipher suites
  if (o + 1 > b.length) return bad('truncated ClientHello');
  o += 1 + b[o]!; // compression methods
  if (o === b.length) return { kind: 'hello', serverName: undefined, ech: false };
  if (o + 2 > b.length) return bad('truncated ClientHello');
  const end = o + 2 + b.readUInt16BE(o);
  if (end > b.length) return bad('truncated extensions');
  o += 2;
  let serverName: string | undefined;
  let ech = false;
  let sniSeen = false;
  while (o + 4 <= end) {
    const type = b.readUInt16BE(o);
    const len = b.readUInt16BE(o + 2);
    const data = b.subarray(o + 4, o + 4 + len);
    if (o + 4 + len > end) return bad('truncated extension');
    if (type === EXT_ECH) ech = true;
    if (type === EXT_SERVER_NAME) {
      if (sniSeen) return bad('two server_name extensions');
      sniSeen = true;
      const r = parseServerName(data);
      if (typeof r !== 'string' && r !== undefined) return r;
      serverName = r;
    }
    o += 4 + len;
  }
  if (o !== end) return bad('malformed extensions');
  return { kind: 'hello', serverName, ech };
}

function parseServerName(d: Buffer): string | undefined | Hello {
  if (d.length < 2 || d.readUInt16BE(0) !== d.length - 2) return { kind: 'invalid', reason: 'malformed server_name' };
  let o = 2;
  let name: string | undefined;
  while (o + 3 <= d.length) {
    const type = d[o]!;
    const len = d.readUInt16BE(o + 1);
    if (o + 3 + len > d.length) return { kind: 'invalid', reason: 'malformed server_name' };
    if (type === 0) {
      if (name !== undefined) return { kind: 'invalid', reason: 'two host names in server_name' };
      const raw = d.subarray(o + 3, o + 3 + len);
      if (!/^[\x21-\x7e]+$/.test(raw.toString('latin1'))) return { kind: 'invalid', reason: 'server name is not printable ASCII' };
      name = raw.toString('latin1');
    }
    o += 3 + len;
  }
  return name;
}
