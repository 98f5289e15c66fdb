/**
 * @module egress-proxy
 * The transparent proxy for the HTTP and TLS ports that a sandbox's domain rules cover (nft
 * redirects them here; addresses an allow CIDR gives on the port skip it). One listener per
 * original port, so the port a sandbox dialled is known without SO_ORIGINAL_DST.
 *
 * TLS: reads the ClientHello (16 KiB, 5 s at most), takes its SNI, checks it against the policy,
 * then dials that *name* (policy-dial.ts) and splices. No SNI, an ECH hello, or an IP literal as
 * SNI is refused (an IP rule for the address would have skipped the proxy).
 * HTTP: a real HTTP/1.1 server (Node's parser): every request on a kept-alive connection is
 * checked by its own Host and sent upstream on a connection of its own, so switching Host
 * mid-connection gains nothing. WebSocket upgrades are checked the same way, then spliced.
 *
 * Denied TLS connections are reset; denied HTTP requests get 403 with a one-line reason. Every
 * decision is audited.
 */
import { createServer as createHttpServer, request as httpRequest, type IncomingMessage, type Server as HttpServer, type ServerResponse } from 'node:http';
import { connect, createServer, type Server, type Socket } from 'node:net';
import type { AuditRing } from './audit.js';
import type { PlatformDenySet } from './deny-set.js';
import type { Upstream } from './dns-upstream.js';
import { normaliseName } from './names.js';
import { checkName, type Policy } from './policy.js';
import { policyLookup } from './policy-dial.js';
import { MAX_HELLO_BYTES, parseClientHello } from './tls-client-hello.js';

export interface ProxySandbox {
  id: string;
  policy(): Policy;
  audit: AuditRing;
  /** Open proxied connections (for the per-sandbox cap and for revalidation after an update). */
  connections: Set<ProxiedConnection>;
}

export interface ProxiedConnection {
  name: string;
  port: number;
  close(): void;
}

export interface EgressProxyOptions {
  sandboxFor(sourceAddress: string): ProxySandbox | undefined;
  upstream: Upstream;
  denySet(): PlatformDenySet;
  onError(e: unknown): void;
  maxConnectionsPerSandbox?: number;
}

export type ProxyKind = 'http' | 'tls';

const HELLO_TIMEOUT_MS = 5_000;
const CONNECT_TIMEOUT_MS = 10_000;
const HOP_BY_HOP = new Set(['connection', 'proxy-connection', 'keep-alive', 'te', 'trailer', 'upgrade', 'proxy-authorization', 'proxy-authenticate']);

export class EgressProxy {
  readonly #servers: (Server | HttpServer)[] = [];
  readonly #sockets = new Set<Socket>();

  constructor(private readonly o: EgressProxyOptions) {}

  /** Listens for connections redirected from original port `port`; returns the listening port. */
  async listen(kind: ProxyKind, port: number, listenPort = 0, host = '0.0.0.0'): Promise<number> {
    // TLS: half-open, so a client that ends its side still gets the answer (the splice carries FIN through).
    const server = kind === 'tls' ? createServer({ allowHalfOpen: true }, (s) => this.#tls(s, port)) : this.#httpServer(port);
    server.on('connection', (s: Socket) => {
      this.#sockets.add(s);
      s.on('close', () => this.#sockets.delete(s));
    });
    await new Promise<void>((res, rej) => {
      server.once('error', rej);
      server.listen(listenPort, host, () => res());
    });
    server.on('error', (e) => this.o.onError(e));
    this.#servers.push(server);
    return (server.address() as { port: number }).port;
  }

  async close(): Promise<void> {
    for (const s of this.#sockets) s.destroy();
    await Promise.all(this.#servers.map((s) => new Promise<void>((r) => s.close(() => r()))));
  }

  /** Closes a sandbox's proxied connections that its (new) policy no longer allows. */
  revalidate(sb: ProxySandbox): void {
    for (const c of sb.connections) if (!checkName(sb.policy(), c.name, c.port, 'tcp').allowed) c.close();
  }

  #admit(s: Socket): ProxySandbox | undefined {
    const sb = this.o.sandboxFor(s.remoteAddress ?? '');
    if (!sb) return void s.destroy();
    if (sb.connections.size >= (this.o.maxConnectionsPerSandbox ?? 512)) {
      sb.audit.push({ kind: 'connect', verdict: 'denied', protocol: 'tcp', reason: 'too many proxied connections open' });
      return void s.destroy();
    }
    return sb;
  }

  /** The policy's verdict on `name:port`, with the name normalised; audits denials. */
  #judge(sb: ProxySandbox, rawName: string | undefined, port: number, via: string): { name: string } | { reason: string } {
    const n = rawName === undefined ? { error: `no ${via} name` } : normaliseName(rawName);
    const v = 'name' in n ? checkName(sb.policy(), n.name, port, 'tcp') : { allowed: false as const, reason: n.error };
    if (!v.allowed || !('name' in n)) {
      sb.audit.push({
        kind: 'connect',
        verdict: 'denied',
        ...(rawName === undefined ? {} : { name: rawName.slice(0, 253) }),
        port,
        protocol: 'tcp',
        reason: `${via}: ${'reason' in v ? v.reason : ''}`,
      });
      return { reason: 'reason' in v ? v.reason : 'denied' };
    }
    return { name: n.name };
  }

  #dial(sb: ProxySandbox, name: string, port: number, onDenied: (reason: string) => void): Socket {
    const lookup = policyLookup(
      this.o.upstream,
      () => this.o.denySet(),
      () => sb.policy(),
      port,
      (reason) => {
        sb.audit.push({ kind: 'connect', verdict: 'denied', name, port, protocol: 'tcp', reason });
        onDenied(reason);
      },
    );
    const up = connect({ host: name, port, lookup: lookup as never, timeout: CONNECT_TIMEOUT_MS, allowHalfOpen: true });
    up.once('timeout', () => up.destroy());
    // The timeout bounds the connect only; an established connection may idle as long as it likes.
    up.once('connect', () => up.setTimeout(0));
    return up;
  }

  #track(sb: ProxySandbox, name: string, port: number, close: () => void): () => void {
    const c: ProxiedConnection = { name, port, close };
    sb.connections.add(c);
    return () => sb.connections.delete(c);
  }

  #tls(s: Socket, port: number): void {
    const sb = this.#admit(s);
    if (!sb) return;
    s.on('error', () => {});
    let buf = Buffer.alloc(0);
    const timer = setTimeout(() => {
      sb.audit.push({ kind: 'connect', verdict: 'denied', port, protocol: 'tcp', reason: 'tls: no ClientHello within 5 s' });
      s.destroy();
    }, HELLO_TIMEOUT_MS);
    const onData = (d: Buffer) => {
      buf = Buffer.concat([buf, d]);
      const h = parseClientHello(buf.length > MAX_HELLO_BYTES ? buf.subarray(0, MAX_HELLO_BYTES) : buf);
      if (h.kind === 'incomplete') return;
      clearTimeout(timer);
      s.off('data', onData);
      s.pause();
      if (h.kind === 'invalid') {
        sb.audit.push({ kind: 'connect', verdict: 'denied', port, protocol: 'tcp', reason: `tls: ${h.reason}` });
        return void s.resetAndDestroy();
      }
      if (h.ech) {
        sb.audit.push({
          kind: 'connect',
          verdict: 'denied',
          ...(h.serverName ? { name: h.serverName } : {}),
          port,
          protocol: 'tcp',
          reason: 'tls: encrypted ClientHello (ECH) hides the server name',
        });
        return void s.resetAndDestroy();
      }
      const j = this.#judge(sb, h.serverName, port, 'tls sni');
      if ('reason' in j) return void s.resetAndDestroy();
      const up = this.#dial(sb, j.name, port, () => {});
      const untrack = this.#track(sb, j.name, port, () => {
        up.destroy();
        s.destroy();
      });
      up.once('connect', () => {
        sb.audit.push({ kind: 'connect', verdict: 'allowed', name: j.name, address: up.remoteAddress ?? '', port, protocol: 'tcp', reason: 'proxy (tls)' });
        up.write(buf);
        s.pipe(up).pipe(s);
        s.resume();
      });
      up.on('error', () => s.resetAndDestroy());
      up.on('close', () => s.destroy());
      s.on('close', () => {
        untrack();
        up.destroy();
      });
    };
    s.on('data', onData);
  }

  #httpServer(port: number): HttpServer {
    const server = createHttpServer({ maxHeaderSize: 16 * 1024, headersTimeout: 10_000, requestTimeout: 0, keepAliveTimeout: 5_000 });
    server.on('request', (req: IncomingMessage, res: ServerResponse) => this.#httpRequest(req, res, port));
    server.on('upgrade', (req: IncomingMessage, socket: Socket, head: Buffer) => this.#httpUpgrade(req, socket, head, port));
    server.on('clientError', (_e, socket: Socket) => socket.destroy());
    return server;
  }

  /** The name a request is for: the absolute URL's host if the client sent one, else Host (port stripped). */
  #requestTarget(req: IncomingMessage): { host: string | undefined; path: string } {
    const url = req.url ?? '/';
    if (/^http:\/\//i.test(url)) {
      try {
        const u = new URL(url);
        return { host: u.hostname, path: `${u.pathname}${u.search}` };
      } catch {
        return { host: undefined, path: '/' };
      }
    }
    const host = req.headers.host;
    return { host: host === undefined ? undefined : host.replace(/:\d+$/, ''), path: url.startsWith('/') ? url : '/' };
  }

  #httpRequest(req: IncomingMessage, res: ServerResponse, port: number): void {
    const sb = this.o.sandboxFor(req.socket.remoteAddress ?? '');
    if (!sb) return void req.socket.destroy();
    const { host, path } = this.#requestTarget(req);
    const j = this.#judge(sb, host, port, 'http host');
    const refuse = (status: number, reason: string) => {
      if (res.headersSent) return void res.destroy();
      res.writeHead(status, { 'content-type': 'text/plain', connection: 'close' });
      res.end(`airlock: ${reason}\n`);
    };
    if ('reason' in j) return refuse(403, `egress to ${host ?? '(no host)'}:${port} is not allowed by this sandbox's network policy`);
    const headers: Record<string, string | string[]> = {};
    for (const [k, v] of Object.entries(req.headers)) if (v !== undefined && !HOP_BY_HOP.has(k)) headers[k] = v;
    const lookup = policyLookup(
      this.o.upstream,
      () => this.o.denySet(),
      () => sb.policy(),
      port,
      (reason) => {
        sb.audit.push({ kind: 'connect', verdict: 'denied', name: j.name, port, protocol: 'tcp', reason });
      },
    );
    const up = httpRequest({ host: j.name, port, method: req.method, path, headers, agent: false, lookup: lookup as never, timeout: CONNECT_TIMEOUT_MS });
    const untrack = this.#track(sb, j.name, port, () => {
      up.destroy();
      res.destroy();
    });
    up.on('socket', (sock: Socket) =>
      sock.once('connect', () => {
        sock.setTimeout(0);
        sb.audit.push({ kind: 'connect', verdict: 'allowed', name: j.name, address: sock.remoteAddress ?? '', port, protocol: 'tcp', reason: 'proxy (http)' });
      }),
    );
    up.on('response', (ur) => {
      const out: Record<string, string | string[]> = {};
      for (const [k, v] of Object.entries(ur.headers)) if (v !== undefined && !HOP_BY_HOP.has(k)) out[k] = v;
      res.writeHead(ur.statusCode ?? 502, ur.statusMessage, out);
      ur.pipe(res);
    });
    up.on('timeout', () => up.destroy(new Error('upstream timed out')));
    up.on('error', () => refuse(502, `could not reach ${j.name}:${port}`));
    res.on('close', () => {
      untrack();
      up.destroy();
    });
    req.pipe(up);
  }

  #httpUpgrade(req: IncomingMessage, socket: Socket, head: Buffer, port: number): void {
    const sb = this.o.sandboxFor(socket.remoteAddress ?? '');
    if (!sb) return void socket.destroy();
    socket.on('error', () => {});
    const { host, path } = this.#requestTarget(req);
    const j = this.#judge(sb, host, port, 'http host');
    if ('reason' in j) return void socket.end('HTTP/1.1 403 Forbidden\r\nconnection: close\r\ncontent-length: 0\r\n\r\n');
    const up = this.#dial(sb, j.name, port, () => {});
    const untrack = this.#track(sb, j.name, port, () => {
      up.destroy();
      socket.destroy();
    });
    up.once('connect', () => {
      sb.audit.push({
        kind: 'connect',
        verdict: 'allowed',
        name: j.name,
        address: up.remoteAddress ?? '',
        port,
        protocol: 'tcp',
        reason: 'proxy (http upgrade)',
      });
      const lines = [`${req.method} ${path} HTTP/1.1`];
      for (let i = 0; i < req.rawHeaders.length; i += 2) lines.push(`${req.rawHeaders[i]}: ${req.rawHeaders[i + 1]}`);
      up.write(`${lines.join('\r\n')}\r\n\r\n`);
      if (head.length > 0) up.write(head);
      socket.pipe(up).pipe(socket);
    });
    up.on('error', () => socket.destroy());
    up.on('close', () => socket.destroy());
    socket.on('close', () => {
      untrack();
      up.destroy();
    });
  }
}
