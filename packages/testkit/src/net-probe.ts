/**
 * @module net-probe
 * What a network test runs *inside* a sandbox's namespace (as an unprivileged user): a list of
 * connection and DNS attempts, each reported with what the sandbox saw. The verdict of a test
 * never rests on these reports alone (a transparent proxy makes a blocked connect look
 * successful); it rests on what the rig's listeners and DNS server logged.
 *
 * Usage: node net-probe.js <json array of ops>  →  one JSON array of results on stdout.
 */
import { createSocket } from 'node:dgram';
import { lookup } from 'node:dns/promises';
import { connect } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import dnsPacket from 'dns-packet';

type Op =
  | { op: 'tcp'; host: string; port: number; send?: string }
  | { op: 'udp'; host: string; port: number; send?: string }
  | { op: 'dns'; server: string; name: string; type?: string; tcp?: boolean; rawLabels?: string[] }
  | { op: 'resolve'; name: string }
  | { op: 'tls'; host: string; port: number; servername?: string }
  | { op: 'http'; host: string; port: number; requests: { host: string; path?: string }[] };

const WAIT_MS = 1500;

function tcp(o: { host: string; port: number; send?: string }): Promise<object> {
  return new Promise((resolve) => {
    const s = connect({ host: o.host, port: o.port, timeout: 3000 });
    let reply = '';
    const done = (r: object) => {
      s.destroy();
      resolve(r);
    };
    s.on('connect', () => {
      s.write(o.send ?? 'hello\n');
      setTimeout(() => done({ connected: true, reply }), WAIT_MS);
    });
    s.on('data', (d) => (reply += d.toString('latin1')));
    s.on('timeout', () => done({ connected: false, error: 'timeout' }));
    s.on('error', (e: NodeJS.ErrnoException) => done({ connected: false, error: e.code ?? e.message, reply }));
  });
}

function udp(o: { host: string; port: number; send?: string }): Promise<object> {
  return new Promise((resolve) => {
    const u = createSocket('udp4');
    const t = setTimeout(() => (u.close(), resolve({ reply: null })), WAIT_MS);
    u.on('message', (m) => (clearTimeout(t), u.close(), resolve({ reply: m.toString() })));
    u.on('error', (e: NodeJS.ErrnoException) => (clearTimeout(t), u.close(), resolve({ error: e.code })));
    u.send(o.send ?? 'hello', o.port, o.host);
  });
}

function rawQuery(labels: string[], type: number): Buffer {
  const head = Buffer.from([0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0]);
  const parts = labels.map((l) => {
    const b = Buffer.from(l, 'latin1');
    return Buffer.concat([Buffer.from([b.length]), b]);
  });
  const tail = Buffer.alloc(5);
  tail.writeUInt16BE(type, 1);
  tail.writeUInt16BE(1, 3);
  return Buffer.concat([head, ...parts, tail]);
}

function dns(o: { server: string; name: string; type?: string; tcp?: boolean; rawLabels?: string[] }): Promise<object> {
  const type = (o.type ?? 'A') as dnsPacket.RecordType;
  const msg = o.rawLabels
    ? rawQuery(o.rawLabels, 1)
    : dnsPacket.encode({ type: 'query', id: 4660, flags: dnsPacket.RECURSION_DESIRED, questions: [{ type, name: o.name, class: 'IN' }] });
  const parse = (b: Buffer) => {
    try {
      const p = dnsPacket.decode(b);
      return { rcode: (p as { rcode?: string }).rcode, answers: (p.answers ?? []).map((a) => ('data' in a ? String(a.data) : '')) };
    } catch {
      return { error: 'undecodable answer' };
    }
  };
  return new Promise((resolve) => {
    if (o.tcp) {
      const s = connect({ host: o.server, port: 53, timeout: 3000 });
      let buf = Buffer.alloc(0);
      const t = setTimeout(() => (s.destroy(), resolve({ timeout: true })), 3000);
      s.on('connect', () => s.write(Buffer.concat([Buffer.from([msg.length >> 8, msg.length & 255]), msg])));
      s.on('data', (d) => {
        buf = Buffer.concat([buf, d]);
        if (buf.length >= 2 && buf.length >= 2 + buf.readUInt16BE(0)) {
          clearTimeout(t);
          s.destroy();
          resolve(parse(buf.subarray(2, 2 + buf.readUInt16BE(0))));
        }
      });
      s.on('error', (e: NodeJS.ErrnoException) => (clearTimeout(t), resolve({ error: e.code })));
      return;
    }
    const u = createSocket('udp4');
    const t = setTimeout(() => (u.close(), resolve({ timeout: true })), 3000);
    u.on('message', (m) => (clearTimeout(t), u.close(), resolve(parse(m))));
    u.send(msg, 53, o.server);
  });
}

function tls(o: { host: string; port: number; servername?: string }): Promise<object> {
  return new Promise((resolve) => {
    const s = tlsConnect({ host: o.host, port: o.port, rejectUnauthorized: false, timeout: 3000, ...(o.servername ? { servername: o.servername } : {}) });
    let reply = '';
    const t = setTimeout(() => (s.destroy(), resolve({ reply })), WAIT_MS);
    s.on('data', (d) => (reply += d.toString('latin1')));
    s.on('error', (e: NodeJS.ErrnoException) => (clearTimeout(t), s.destroy(), resolve({ error: e.code ?? e.message })));
  });
}

function http(o: { host: string; port: number; requests: { host: string; path?: string }[] }): Promise<object> {
  return new Promise((resolve) => {
    const s = connect({ host: o.host, port: o.port, timeout: 3000 });
    const replies: string[] = [];
    let cur = '';
    let i = 0;
    const finish = () => (s.destroy(), resolve({ replies: [...replies, ...(cur ? [cur] : [])] }));
    const next = () => {
      const r = o.requests[i++];
      if (!r) return finish();
      s.write(`GET ${r.path ?? '/'} HTTP/1.1\r\nHost: ${r.host}\r\nConnection: keep-alive\r\n\r\n`);
    };
    s.on('connect', next);
    s.on('data', (d) => {
      cur += d.toString('latin1');
      const m = /content-length: (\d+)\r\n/i.exec(cur);
      const end = cur.indexOf('\r\n\r\n');
      if (m && end >= 0 && cur.length >= end + 4 + Number(m[1])) {
        replies.push(cur);
        cur = '';
        next();
      }
    });
    setTimeout(finish, 3000);
    s.on('close', finish);
    s.on('error', (e: NodeJS.ErrnoException) => (replies.push(`error ${e.code}`), finish()));
  });
}

async function run(o: Op): Promise<object> {
  switch (o.op) {
    case 'tcp':
      return tcp(o);
    case 'udp':
      return udp(o);
    case 'dns':
      return dns(o);
    case 'resolve':
      return lookup(o.name, { family: 4, all: true }).then(
        (a) => ({ addresses: a.map((x) => x.address) }),
        (e: NodeJS.ErrnoException) => ({ error: e.code }),
      );
    case 'tls':
      return tls(o);
    case 'http':
      return http(o);
  }
}

const ops = JSON.parse(process.argv[2]!) as Op[];
const results: object[] = [];
for (const o of ops) results.push(await run(o));
process.stdout.write(JSON.stringify(results));
