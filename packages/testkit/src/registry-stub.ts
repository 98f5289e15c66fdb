/**
 * @module registry-stub
 * Test support: a small HTTP front for the real registry that adds what a loopback docker-registry
 * cannot do by itself: the Bearer token challenge flow (with Basic credentials at the token
 * endpoint), corrupted or truncated blobs, and a count of blob downloads.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface StubOptions {
  auth?: { username: string; password: string };
  /** Blob digests served with one byte flipped, or cut in half. */
  corrupt?: Set<string>;
  truncate?: Set<string>;
}

export interface RegistryStub {
  host: string;
  /** GET requests per blob digest. */
  blobGets: Map<string, number>;
  /** Every Authorization header the stub saw (to check what credentials travelled). */
  authHeaders: string[];
  /** Every request (method, path and query) that reached the registry through the stub. */
  requests: string[];
  close(): Promise<void>;
}

const TOKEN = 'stub-token-0123456789';

export async function startRegistryStub(upstream: string, opts: StubOptions = {}): Promise<RegistryStub> {
  const blobGets = new Map<string, number>();
  const authHeaders: string[] = [];
  const requests: string[] = [];
  let host = '';
  const server: Server = createServer((req, res) => {
    void (async () => {
      const url = new URL(req.url ?? '/', `http://${host}`);
      const auth = req.headers.authorization;
      if (auth) authHeaders.push(auth);
      if (url.pathname === '/token') {
        const expected = opts.auth ? `Basic ${Buffer.from(`${opts.auth.username}:${opts.auth.password}`).toString('base64')}` : undefined;
        if (expected && auth !== expected) {
          res.writeHead(401, { 'content-type': 'application/json' }).end('{"errors":[{"code":"UNAUTHORIZED"}]}');
          return;
        }
        res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ token: TOKEN, expires_in: 300 }));
        return;
      }
      if (opts.auth && auth !== `Bearer ${TOKEN}`) {
        const repo = url.pathname.split('/').slice(2, -2).join('/');
        res
          .writeHead(401, {
            'www-authenticate': `Bearer realm="http://${host}/token",service="stub",scope="repository:${repo}:pull"`,
            'content-type': 'application/json',
          })
          .end('{"errors":[{"code":"UNAUTHORIZED"}]}');
        return;
      }
      const blob = /\/blobs\/(sha256:[a-f0-9]{64})$/.exec(url.pathname)?.[1];
      if (blob && req.method === 'GET') blobGets.set(blob, (blobGets.get(blob) ?? 0) + 1);
      const headers: Record<string, string> = {};
      for (const h of ['accept', 'content-type', 'content-range']) {
        const v = req.headers[h];
        if (typeof v === 'string') headers[h] = v;
      }
      const method = req.method ?? 'GET';
      requests.push(`${method} ${url.pathname}${url.search}`);
      const chunks: Buffer[] = [];
      for await (const c of req) chunks.push(c as Buffer);
      const sent = method === 'GET' || method === 'HEAD' ? undefined : Buffer.concat(chunks);
      const up = await fetch(`http://${upstream}${url.pathname}${url.search}`, { method, headers, ...(sent ? { body: sent } : {}) });
      let body = Buffer.from(await up.arrayBuffer());
      if (blob && opts.corrupt?.has(blob)) {
        body = Buffer.from(body);
        body[body.length - 1] = body[body.length - 1]! ^ 0xff;
      }
      const truncated = blob !== undefined && opts.truncate?.has(blob);
      const out: Record<string, string> = {};
      for (const h of ['content-type', 'docker-content-digest', 'docker-upload-uuid', 'range']) {
        const v = up.headers.get(h);
        if (v) out[h] = v;
      }
      // Uploads continue at a location on the registry: send the client back through the stub.
      const location = up.headers.get('location');
      if (location) out.location = location.replace(`http://${upstream}`, `http://${host}`);
      out['content-length'] = String(method === 'HEAD' ? Number(up.headers.get('content-length') ?? 0) : body.length);
      res.writeHead(up.status, out);
      if (truncated) {
        // Announce the full length, send half, and cut the connection: a download that breaks off.
        res.write(body.subarray(0, body.length >> 1));
        res.destroy();
        return;
      }
      res.end(method === 'HEAD' ? undefined : body);
    })().catch(() => res.destroy());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  host = `127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    host,
    blobGets,
    authHeaders,
    requests,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
