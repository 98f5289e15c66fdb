/**
 * @module dns-server
 * The platform DNS: every UDP and TCP packet to port 53 from a sandbox, whatever address it was
 * sent to, is redirected here by nft. The sandbox is known by its source address (nft drops
 * spoofed ones). For each question:
 *   - malformed, over the rate cap, or not a QUERY → REFUSED, nothing forwarded;
 *   - a name the policy does not allow → NXDOMAIN, nothing forwarded (this is what closes DNS
 *     exfiltration: the attacker's name server never sees the question);
 *   - an allowed name, type A → asked upstream; addresses in the deny set are dropped from the
 *     answer, TTLs are clamped, the addresses are recorded for the sandbox's domain rules (and in
 *     nft) before the answer leaves, so the first connection does not race the rule;
 *   - an allowed name, any other type → NOERROR with no records (so never HTTPS/SVCB, which carry
 *     ECH configs, and never AAAA: IPv6 is off).
 * Every question is audited with its name, type and verdict.
 */
import { createSocket, type Socket as UdpSocket } from 'node:dgram';
import { createServer, type Server, type Socket } from 'node:net';
import type { AuditRing } from './audit.js';
import type { PlatformDenySet } from './deny-set.js';
import { encodeAnswer, encodeError, parseQuery, RCODE, type Query } from './dns-message.js';
import type { Upstream } from './dns-upstream.js';
import { checkAddress, mayResolve, type Policy } from './policy.js';
import type { TokenBucket } from './token-bucket.js';

export interface DnsSandbox {
  id: string;
  policy(): Policy;
  audit: AuditRing;
  questions: TokenBucket;
  /** Records an allowed answer's addresses; resolves once they are enforceable. */
  learned(name: string, addresses: readonly { address: number; ttl: number }[]): Promise<void>;
}

export interface PlatformDnsOptions {
  sandboxFor(sourceAddress: string): DnsSandbox | undefined;
  upstream: Upstream;
  denySet(): PlatformDenySet;
  ttl: { min: number; max: number };
  onError(e: unknown): void;
}

const MAX_ANSWERS = 8;
const TCP_IDLE_MS = 10_000;
const TCP_MAX_QUERIES = 32;

export class PlatformDns {
  #udp: UdpSocket | undefined;
  #tcp: Server | undefined;
  readonly #conns = new Set<Socket>();

  constructor(private readonly o: PlatformDnsOptions) {}

  /** Listens on UDP and TCP `port` (0: one free port for both) on every address; returns the port. */
  async listen(port = 0, host = '0.0.0.0'): Promise<number> {
    for (let attempt = 0; ; attempt++) {
      const udp = createSocket({ type: 'udp4' });
      udp.on('message', (msg, rinfo) => void this.#udpQuery(udp, msg, rinfo.address, rinfo.port));
      udp.on('error', (e) => this.o.onError(e));
      await new Promise<void>((res, rej) => {
        udp.once('error', rej);
        udp.bind(port, host, () => res());
      });
      const bound = udp.address().port;
      const tcp = createServer((s) => this.#tcpConnection(s));
      try {
        await new Promise<void>((res, rej) => {
          tcp.once('error', rej);
          tcp.listen(bound, host, () => res());
        });
      } catch (e) {
        udp.close();
        if (port !== 0 || attempt > 20) throw e;
        continue; // the UDP port's TCP twin was taken; pick another pair
      }
      tcp.on('error', (e) => this.o.onError(e));
      this.#udp = udp;
      this.#tcp = tcp;
      return bound;
    }
  }

  async close(): Promise<void> {
    for (const c of this.#conns) c.destroy();
    await Promise.all([
      new Promise<void>((r) => (this.#udp ? this.#udp.close(() => r()) : r())),
      new Promise<void>((r) => (this.#tcp ? this.#tcp.close(() => r()) : r())),
    ]);
  }

  async #udpQuery(udp: UdpSocket, msg: Buffer, address: string, port: number): Promise<void> {
    try {
      const answer = await this.answer(msg, address);
      if (answer) udp.send(answer, port, address);
    } catch (e) {
      this.o.onError(e);
    }
  }

  #tcpConnection(s: Socket): void {
    this.#conns.add(s);
    s.on('close', () => this.#conns.delete(s));
    s.on('error', () => {});
    s.setTimeout(TCP_IDLE_MS, () => s.destroy());
    let buf = Buffer.alloc(0);
    let busy = false;
    let served = 0;
    const pump = async (): Promise<void> => {
      if (busy) return;
      busy = true;
      try {
        while (buf.length >= 2) {
          const len = buf.readUInt16BE(0);
          if (len > 4096) return void s.destroy();
          if (buf.length < 2 + len) break;
          const msg = buf.subarray(2, 2 + len);
          buf = buf.subarray(2 + len);
          if (++served > TCP_MAX_QUERIES) return void s.end();
          const answer = await this.answer(Buffer.from(msg), s.remoteAddress ?? '');
          if (!answer) return void s.destroy();
          const framed = Buffer.alloc(2 + answer.length);
          framed.writeUInt16BE(answer.length, 0);
          answer.copy(framed, 2);
          s.write(framed);
        }
      } catch (e) {
        this.o.onError(e);
        s.destroy();
      } finally {
        busy = false;
      }
    };
    s.on('data', (d: Buffer) => {
      if (buf.length + d.length > 2 + 4096 + 2) return void s.destroy();
      buf = Buffer.concat([buf, d]);
      // While a question is being answered the running loop picks the new bytes up.
      void pump();
    });
  }

  /** The answer to one query from `sourceAddress`, or undefined to stay silent. */
  async answer(msg: Buffer, sourceAddress: string): Promise<Buffer | undefined> {
    const sb = this.o.sandboxFor(sourceAddress);
    if (!sb) return undefined;
    const q = parseQuery(msg);
    if (q === undefined) return undefined;
    if ('malformed' in q) {
      sb.audit.push({ kind: 'dns', verdict: 'denied', reason: `malformed query: ${q.malformed}` });
      return encodeError(q.id, RCODE.REFUSED);
    }
    const deny = (rcode: number, reason: string) => {
      sb.audit.push({ kind: 'dns', verdict: 'denied', name: q.name ?? q.rawName.slice(0, 253), type: q.typeName, reason });
      return encodeAnswer(q, rcode);
    };
    if (!sb.questions.take()) return deny(RCODE.REFUSED, 'over the DNS rate limit');
    if (q.name === undefined) return deny(RCODE.REFUSED, `invalid name: ${q.nameError}`);
    const policy = sb.policy();
    if (!mayResolve(policy, q.name)) return deny(RCODE.NXDOMAIN, 'name not allowed by the policy');
    if (q.type !== 1) {
      sb.audit.push({ kind: 'dns', verdict: 'allowed', name: q.name, type: q.typeName, reason: 'answered with no records (only A is served)' });
      return encodeAnswer(q, RCODE.NOERROR);
    }
    return this.#resolveA(sb, policy, q as Query & { name: string });
  }

  async #resolveA(sb: DnsSandbox, policy: Policy, q: Query & { name: string }): Promise<Buffer> {
    const r = await this.o.upstream.resolve4(q.name);
    if (r.kind !== 'addresses') {
      const rcode = r.kind === 'nxdomain' ? RCODE.NXDOMAIN : r.kind === 'nodata' ? RCODE.NOERROR : RCODE.SERVFAIL;
      sb.audit.push({
        kind: 'dns',
        verdict: 'allowed',
        name: q.name,
        type: 'A',
        reason: r.kind === 'failed' ? `upstream failed: ${r.reason}` : `upstream: ${r.kind}`,
      });
      return encodeAnswer(q, rcode);
    }
    const deny = this.o.denySet();
    const kept = r.addresses
      .filter((a) => checkAddress(policy, deny, a.address).allowed)
      .slice(0, MAX_ANSWERS)
      .map((a) => ({ address: a.address, ttl: Math.min(this.o.ttl.max, Math.max(this.o.ttl.min, a.ttl)) }));
    const dropped = r.addresses.length - kept.length;
    await sb.learned(q.name, kept);
    sb.audit.push({
      kind: 'dns',
      verdict: kept.length > 0 || r.addresses.length === 0 ? 'allowed' : 'denied',
      name: q.name,
      type: 'A',
      ...(dropped > 0 ? { reason: `${dropped} address(es) in the deny set removed from the answer` } : {}),
    });
    return encodeAnswer(q, RCODE.NOERROR, kept);
  }
}
