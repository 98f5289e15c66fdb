/**
 * @module net-rig-internet
 * The "internet" of the network tests, run inside the rig's namespace (net-rig.ts starts it):
 * TCP and UDP listeners on every rig address and a few ports that log what arrives, and an
 * authoritative DNS server (port 53 on every address, UDP and TCP) for the test zones that logs
 * every question it receives. Each arrival is one JSON line on stdout; the test judges by these.
 *
 * Usage: node net-rig-internet.js <json config>
 */
import { createSocket } from 'node:dgram';
import { createServer } from 'node:net';
import dnsPacket from 'dns-packet';

interface RigConfig {
  tcpPorts: number[];
  udpPorts: number[];
  /** name → IPv4 address (A records); a name not listed gets NXDOMAIN. `*.x` entries match subdomains. */
  zone: Record<string, string>;
}

const config = JSON.parse(process.argv[2]!) as RigConfig;
const log = (o: object) => process.stdout.write(`${JSON.stringify(o)}\n`);

function lookup(name: string): string | undefined {
  const n = name.toLowerCase().replace(/\.$/, '');
  if (config.zone[n] !== undefined) return config.zone[n];
  for (const [k, v] of Object.entries(config.zone)) if (k.startsWith('*.') && n.endsWith(k.slice(1))) return v;
  return undefined;
}

function answer(msg: Buffer, via: 'udp' | 'tcp', from: string): Buffer | undefined {
  let q: dnsPacket.Packet;
  try {
    q = dnsPacket.decode(msg);
  } catch {
    log({ kind: 'dns', via, from, malformed: true });
    return undefined;
  }
  const question = q.questions?.[0];
  if (!question) return undefined;
  log({ kind: 'dns', via, from, name: question.name, type: question.type });
  const addr = lookup(question.name);
  return dnsPacket.encode({
    type: 'response',
    id: q.id ?? 0,
    flags: dnsPacket.AUTHORITATIVE_ANSWER | (addr === undefined ? 3 : 0),
    questions: [question],
    answers: addr !== undefined && question.type === 'A' ? [{ type: 'A', name: question.name, ttl: 60, class: 'IN', data: addr }] : [],
  });
}

const udp53 = createSocket('udp4');
udp53.on('message', (m, r) => {
  const a = answer(m, 'udp', r.address);
  if (a) udp53.send(a, r.port, r.address);
});
udp53.bind(53, '0.0.0.0');

createServer((s) => {
  s.on('error', () => {});
  let buf = Buffer.alloc(0);
  s.on('data', (d) => {
    buf = Buffer.concat([buf, d]);
    while (buf.length >= 2 && buf.length >= 2 + buf.readUInt16BE(0)) {
      const len = buf.readUInt16BE(0);
      const a = answer(buf.subarray(2, 2 + len), 'tcp', s.remoteAddress ?? '');
      buf = buf.subarray(2 + len);
      if (a) {
        const f = Buffer.alloc(2);
        f.writeUInt16BE(a.length);
        s.write(Buffer.concat([f, a]));
      }
    }
  });
}).listen(53, '0.0.0.0');

for (const port of config.tcpPorts) {
  // Half-open: a bulk sender ends its side, then reads the count.
  createServer({ allowHalfOpen: true }, (s) => {
    s.on('error', () => {});
    const arrival = { kind: 'tcp', to: s.localAddress, port, from: s.remoteAddress };
    log(arrival);
    let first = true;
    s.on('data', (d: Buffer) => {
      if (!first) return;
      first = false;
      log({ ...arrival, kind: 'tcp-data', head: d.subarray(0, 64).toString('latin1') });
      if (d.subarray(0, 4).toString() === 'GET ') {
        const body = `rig ${s.localAddress}:${port}\n`;
        s.write(`HTTP/1.1 200 OK\r\ncontent-length: ${body.length}\r\ncontent-type: text/plain\r\n\r\n${body}`);
        // Answer every further request on the connection too (keep-alive).
        s.on('data', (x: Buffer) => {
          if (x.subarray(0, 4).toString() === 'GET ') s.write(`HTTP/1.1 200 OK\r\ncontent-length: ${body.length}\r\ncontent-type: text/plain\r\n\r\n${body}`);
        });
      } else if (d[0] === 0x16 || d.subarray(0, 4).toString() === 'BULK') {
        // A TLS hello (the rig speaks no TLS) or a bulk transfer: count the bytes, answer the count at the end.
        let n = d.length;
        s.on('data', (x: Buffer) => (n += x.length));
        s.on('end', () => s.end(`${n}\n`));
      } else {
        s.write(`rig ${s.localAddress}:${port}\n`);
        s.on('data', (x: Buffer) => s.write(x.subarray(0, 1)));
      }
      if (d[0] !== 0x16 && d.subarray(0, 4).toString() !== 'BULK') s.on('end', () => s.end());
    });
  }).listen(port, '0.0.0.0');
}

for (const port of config.udpPorts) {
  const u = createSocket('udp4');
  u.on('message', (m, r) => {
    log({ kind: 'udp', port, from: r.address, head: m.subarray(0, 64).toString('latin1') });
    u.send(`rig udp ${port}\n`, r.port, r.address);
  });
  u.bind(port, '0.0.0.0');
}

setTimeout(() => log({ kind: 'ready' }), 50);
