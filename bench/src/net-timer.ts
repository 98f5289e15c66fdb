/**
 * Runs inside a network namespace (bench/src/network.ts starts it with nsenter): times connection
 * setups or one bulk transfer to the rig and prints the samples (ms) as JSON.
 *
 * Usage: node net-timer.js '{"mode":"rtt"|"http"|"bulk", "host", "port", "n", "hostHeader"?, "sni"?, "bytes"?}'
 */
import { connect } from 'node:net';

interface Job {
  mode: 'rtt' | 'http' | 'bulk';
  host: string;
  port: number;
  n: number;
  hostHeader?: string;
  sni?: string;
  bytes?: number;
}

const job = JSON.parse(process.argv[2]!) as Job;

/** A minimal TLS 1.2 ClientHello carrying `name` as SNI: what the proxy reads before it dials. */
function clientHello(name: string): Buffer {
  const host = Buffer.from(name);
  const sni = Buffer.concat([Buffer.from([0, 0]), u16(host.length + 5), u16(host.length + 3), Buffer.from([0]), u16(host.length), host]);
  const body = Buffer.concat([
    Buffer.from([3, 3]),
    Buffer.alloc(32, 7),
    Buffer.from([0]),
    u16(2),
    Buffer.from([0x13, 0x01]),
    Buffer.from([1, 0]),
    u16(sni.length),
    sni,
  ]);
  const hs = Buffer.concat([Buffer.from([1, 0, body.length >> 8, body.length & 255]), body]);
  return Buffer.concat([Buffer.from([0x16, 3, 1]), u16(hs.length), hs]);
}

function u16(n: number): Buffer {
  return Buffer.from([n >> 8, n & 255]);
}

function once(): Promise<number> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const s = connect({ host: job.host, port: job.port });
    let got = '';
    s.on('error', reject);
    s.on('connect', () => {
      if (job.mode === 'rtt') s.write('x');
      else if (job.mode === 'http') s.write(`GET / HTTP/1.1\r\nHost: ${job.hostHeader}\r\nConnection: close\r\n\r\n`);
      else {
        s.write(job.sni ? clientHello(job.sni) : 'BULK');
        const chunk = Buffer.alloc(256 * 1024, 1);
        let left = job.bytes ?? 0;
        const pump = () => {
          while (left > 0) {
            left -= chunk.length;
            if (!s.write(chunk)) return void s.once('drain', pump);
          }
          s.end();
        };
        pump();
      }
    });
    s.on('data', (d) => {
      got += d.toString('latin1');
      const done = job.mode === 'rtt' ? got.length > 0 : job.mode === 'http' ? /\r\n\r\nrig /.test(got) && got.endsWith('\n') : got.endsWith('\n');
      if (done) {
        const ms = performance.now() - t0;
        s.destroy();
        resolve(ms);
      }
    });
  });
}

const samples: number[] = [];
for (let i = 0; i < job.n + 3; i++) {
  const ms = await once();
  if (i >= 3) samples.push(ms);
}
process.stdout.write(JSON.stringify(samples));
