/**
 * @module mcp/http-transport
 * `airlock mcp --http`: the MCP server over streamable HTTP at /mcp, one MCP session (and one
 * sandbox session) per client, on loopback by default. The endpoint carries the key's powers, so
 * every request needs `Authorization: Bearer <token>` (AIRLOCK_MCP_TOKEN, or one generated and
 * printed at start), and only requests whose Host names this listener are served (DNS rebinding).
 */
import { randomBytes, randomUUID, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Airlock } from '@airlock/sdk';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import { isInitializeRequest } from '@modelcontextprotocol/sdk/types.js';
import { McpSession } from './session.js';
import { buildMcpServer } from './tools.js';

const MAX_BODY = 32 * 1024 * 1024;

export interface HttpMcp {
  url: string;
  token: string;
  server: Server;
  close(): Promise<void>;
}

function tokenOk(header: string | undefined, token: string): boolean {
  const m = /^Bearer (\S+)$/.exec(header ?? '');
  if (!m) return false;
  const a = Buffer.from(m[1]!);
  const b = Buffer.from(token);
  return a.length === b.length && timingSafeEqual(a, b);
}

function readJson(req: IncomingMessage): Promise<unknown> {
  return new Promise((resolve, reject) => {
    let size = 0;
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > MAX_BODY) {
        reject(new Error('body too large'));
        req.destroy();
      } else chunks.push(c);
    });
    req.on('end', () => {
      try {
        resolve(chunks.length ? JSON.parse(Buffer.concat(chunks).toString('utf8')) : undefined);
      } catch (e) {
        reject(e);
      }
    });
    req.on('error', reject);
  });
}

function fail(res: ServerResponse, status: number, message: string): void {
  res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify({ jsonrpc: '2.0', error: { code: -32000, message }, id: null }));
}

export async function serveMcpHttp(o: {
  client: () => Airlock;
  host: string;
  port: number;
  keep: boolean;
  token?: string | undefined;
  version: string;
}): Promise<HttpMcp> {
  const token = o.token ?? randomBytes(24).toString('base64url');
  const sessions = new Map<string, { transport: StreamableHTTPServerTransport; session: McpSession }>();
  let allowedHosts: string[] = [];

  const server = createServer((req, res) => {
    void (async () => {
      if (!allowedHosts.includes(req.headers.host ?? '')) return fail(res, 403, 'this Host is not served (DNS rebinding protection)');
      if (new URL(req.url ?? '/', 'http://x').pathname !== '/mcp') return fail(res, 404, 'the MCP endpoint is /mcp');
      if (!tokenOk(req.headers.authorization, token)) return fail(res, 401, 'send Authorization: Bearer <token> (printed when airlock mcp --http started)');
      const id = req.headers['mcp-session-id'];
      const known = typeof id === 'string' ? sessions.get(id) : undefined;
      const body = req.method === 'POST' ? await readJson(req) : undefined;
      if (known) return known.transport.handleRequest(req, res, body);
      if (req.method !== 'POST' || !isInitializeRequest(body))
        return fail(res, typeof id === 'string' ? 404 : 400, typeof id === 'string' ? 'unknown MCP session' : 'start with an initialize request');
      const session = new McpSession(o.client(), o.keep);
      const transport = new StreamableHTTPServerTransport({
        sessionIdGenerator: () => randomUUID(),
        onsessioninitialized: (sid) => {
          sessions.set(sid, { transport, session });
        },
      });
      transport.onclose = () => {
        if (transport.sessionId) sessions.delete(transport.sessionId);
        void session.close();
      };
      await buildMcpServer(session, o.version).connect(transport);
      await transport.handleRequest(req, res, body);
    })().catch((e: unknown) => {
      if (!res.headersSent) fail(res, 400, e instanceof Error ? e.message : 'bad request');
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(o.port, o.host, () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  const hostPart = o.host.includes(':') ? `[${o.host}]` : o.host;
  allowedHosts = [`${hostPart}:${port}`, ...(o.host === '127.0.0.1' || o.host === '::1' ? [`localhost:${port}`] : [])];
  return {
    url: `http://${hostPart}:${port}/mcp`,
    token,
    server,
    close: async () => {
      await Promise.allSettled(
        [...sessions.values()].map(async (s) => {
          await s.transport.close();
          await s.session.close();
        }),
      );
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
