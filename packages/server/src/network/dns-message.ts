/**
 * @module dns-message
 * Reading a sandbox's DNS query and writing the answer. The query is parsed by hand, strictly,
 * because its name is the exfiltration channel: one question, no compression, each label only
 * letters, digits, `-` and `_` (so a label cannot smuggle a `.` or a byte that another parser
 * would read differently), then normalised like every other name. Answers echo the question's
 * bytes and carry only A records, so they are written by hand too (a dozen bytes each).
 */
import { MAX_LABEL_LENGTH, MAX_NAME_LENGTH, normaliseName } from './names.js';

export const RCODE = { NOERROR: 0, SERVFAIL: 2, NXDOMAIN: 3, NOTIMP: 4, REFUSED: 5 } as const;

export interface Query {
  id: number;
  recursionDesired: boolean;
  /** As sent (case kept: resolvers that randomise case check the echo). */
  rawName: string;
  /** Normalised, or undefined when the name is not a valid host name. */
  name: string | undefined;
  nameError: string | undefined;
  type: number;
  typeName: string;
  /** The question section as received (validated), echoed in the answer. */
  question: Buffer;
}

const TYPE_NAMES: Record<number, string> = {
  1: 'A',
  2: 'NS',
  5: 'CNAME',
  6: 'SOA',
  12: 'PTR',
  15: 'MX',
  16: 'TXT',
  28: 'AAAA',
  33: 'SRV',
  64: 'SVCB',
  65: 'HTTPS',
  255: 'ANY',
};
const LABEL_BYTE = /^[A-Za-z0-9_-]+$/;

/** Parses a query; undefined if it is not one we answer at all (not a query, not one question…). */
export function parseQuery(buf: Buffer): Query | { id: number; malformed: string } | undefined {
  if (buf.length < 12 || buf.length > 4096) return undefined;
  const id = buf.readUInt16BE(0);
  const flags = buf.readUInt16BE(2);
  if (flags & 0x8000) return undefined; // a response: never answer those
  if (((flags >> 11) & 0xf) !== 0) return { id, malformed: 'opcode is not QUERY' };
  if (buf.readUInt16BE(4) !== 1 || buf.readUInt16BE(6) !== 0 || buf.readUInt16BE(8) !== 0) return { id, malformed: 'not exactly one question' };
  let off = 12;
  const labels: string[] = [];
  let total = 0;
  for (;;) {
    if (off >= buf.length) return { id, malformed: 'truncated name' };
    const len = buf[off]!;
    off++;
    if (len === 0) break;
    if (len > MAX_LABEL_LENGTH) return { id, malformed: 'label too long or compressed' };
    if (off + len > buf.length) return { id, malformed: 'truncated label' };
    const label = buf.subarray(off, off + len).toString('latin1');
    if (!LABEL_BYTE.test(label)) return { id, malformed: 'label with characters outside letters, digits, - and _' };
    labels.push(label);
    total += len + 1;
    if (total > MAX_NAME_LENGTH + 1) return { id, malformed: 'name too long' };
    off += len;
  }
  if (off + 4 > buf.length) return { id, malformed: 'truncated question' };
  const type = buf.readUInt16BE(off);
  const klass = buf.readUInt16BE(off + 2);
  if (klass !== 1) return { id, malformed: 'class is not IN' };
  const rawName = labels.join('.');
  const n = labels.length === 0 ? { error: 'the root name' } : normaliseName(rawName);
  return {
    id,
    recursionDesired: (flags & 0x0100) !== 0,
    rawName,
    name: 'name' in n ? n.name : undefined,
    nameError: 'error' in n ? n.error : undefined,
    type,
    typeName: TYPE_NAMES[type] ?? `TYPE${type}`,
    question: buf.subarray(12, off + 4),
  };
}

/** An answer to `q` with `rcode` and the given A records (already filtered and TTL-clamped). */
export function encodeAnswer(q: Query, rcode: number, a: readonly { address: number; ttl: number }[] = []): Buffer {
  const head = Buffer.alloc(12);
  head.writeUInt16BE(q.id, 0);
  head.writeUInt16BE(0x8000 | (q.recursionDesired ? 0x0100 : 0) | 0x0080 | rcode, 2);
  head.writeUInt16BE(1, 4);
  head.writeUInt16BE(a.length, 6);
  const records = a.map((r) => {
    const b = Buffer.alloc(16);
    b.writeUInt16BE(0xc00c, 0); // the name: a pointer to the question's
    b.writeUInt16BE(1, 2); // A
    b.writeUInt16BE(1, 4); // IN
    b.writeUInt32BE(r.ttl >>> 0, 6);
    b.writeUInt16BE(4, 10);
    b.writeUInt32BE(r.address >>> 0, 12);
    return b;
  });
  return Buffer.concat([head, q.question, ...records]);
}

/** A bare error answer for a query we could not parse past its id. */
export function encodeError(id: number, rcode: number): Buffer {
  const b = Buffer.alloc(12);
  b.writeUInt16BE(id, 0);
  b.writeUInt16BE(0x8000 | 0x0080 | rcode, 2);
  return b;
}
