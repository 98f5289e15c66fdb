/**
 * @module ports-gateway
 * Exposed ports: HTTP and WebSocket requests for a port inside a sandbox, proxied from the host
 * side to the sandbox's address on its own link (so it works with egress `none`: the connection is
 * the host's, not the sandbox's). Reached by path, `/v1/sandboxes/{id}/ports/{port}/…`, or, when
 * `network.portsDomain` is set, by host name, `{port}-{id}.{portsDomain}`.
 *
 * Not behind the API key (a preview URL goes to a browser): the sandbox's ports token opens it
 * (header `x-airlock-ports-token` or `?airlock_token=`), unless the sandbox's ports are public.
 * The token is stripped before the request reaches the sandbox; so is the API key, if a client
 * sent one, since the sandbox is not to learn it.
 */
import { request as httpRequest, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { connect, type Socket } from 'node:net';
import { ErrorCode } from '@airlock/protocol/errors';
import { AirlockError } from '../errors.js';
import type { Logger } from '../log.js';
import type { SandboxService } from '../sandbox/service.js';
import { SANDBOX_ID_CHARS } from '../sandbox/ids.js';
import { ERROR_STATUS } from './error-status.js';

const PATH = new RegExp(`^/v1/sandboxes/(sb-${SANDBOX_ID_CHARS})/ports/(\\d{1,5})(/[^?#]*)?(\\?.*)?$`);
const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
  'authorization',
  'x-airlock-ports-token',
]);
const TOKEN_PARAM = 'airlock_token';

interface PortRequest {
  id: string;
  port: number;
  path: string;
  token: string | undefined;
}

function route(req: IncomingMessage, domain: string | null): PortRequest | undefined {
  const url = req.url ?? '/';
  let id: string | undefined;
  let port: number | undefined;
  let rest = url;
  const m = PATH.exec(url);
  if (m) {
    id = m[1];
    port = Number(m[2]);
    rest = `${m[3] ?? '/'}${m[4] ?? ''}`;
  } else if (domain !== null) {
    const host = (req.headers.host ?? '').toLowerCase().replace(/:\d+$/, '');
    const h = new RegExp(`^(\\d{1,5})-(sb-${SANDBOX_ID_CHARS})\\.${domain.replace(/\./g, '\\.')}$`).exec(host);
    if (!h) return undefined;
    port = Number(h[1]);
    id = h[2];
  } else {
    return undefined;
  }
  const u = new URL(rest, 'http://x');
  const fromQuery = u.searchParams.get(TOKEN_PARAM) ?? undefined;
  u.searchParams.delete(TOKEN_PARAM);
  const header = req.headers['x-airlock-ports-token'];
  return { id: id!, port: port!, path: `${u.pathname}${u.search}`, token: typeof header === 'string' ? header : fromQuery };
}

function forwardHeaders(req: IncomingMessage): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  for (const [k, v] of Object.entries(req.headers)) if (v !== undefined && !HOP_BY_HOP.has(k)) out[k] = v;
  return out;
}

function fail(res: ServerResponse, e: unknown, log: Logger): void {
  const err = e instanceof AirlockError ? e : new AirlockError(ErrorCode.Internal, 'internal error');
  if (!(e instanceof AirlockError)) log.error({ err: e }, 'ports gateway failed');
  if (res.headersSent) return void res.destroy();
  res.writeHead(ERROR_STATUS[err.code], { 'content-type': 'application/json' });
  res.end(JSON.stringify({ code: err.code, message: err.message }));
}

/** Puts the gateway in front of the API's request handler on `server`. */
export function installPortsGateway(server: Server, sandboxes: SandboxService, domain: string | null, log: Logger): void {
  const api = server.listeners('request') as ((req: IncomingMessage, res: ServerResponse) => void)[];
  server.removeAllListeners('request');
  server.on('request', (req: IncomingMessage, res: ServerResponse) => {
    const r = route(req, domain);
    if (!r) {
      for (const l of api) l.call(server, req, res);
      return;
    }
    void (async () => {
      try {
        const target = await sandboxes.portTarget(r.id, r.port, r.token);
        const up = httpRequest({
          host: target.host,
          port: target.port,
          method: req.method,
          path: r.path,
          headers: forwardHeaders(req),
          agent: false,
          timeout: 30_000,
        });
        up.on('response', (ur) => {
          const headers: Record<string, string | string[]> = {};
          for (const [k, v] of Object.entries(ur.headers)) if (v !== undefined && !HOP_BY_HOP.has(k)) headers[k] = v;
          res.writeHead(ur.statusCode ?? 502, headers);
          ur.pipe(res);
        });
        up.on('timeout', () => up.destroy());
        up.on('error', () => fail(res, new AirlockError(ErrorCode.RuntimeError, `nothing answered on port ${r.port} of sandbox ${r.id}`), log));
        res.on('close', () => up.destroy());
        req.pipe(up);
      } catch (e) {
        fail(res, e, log);
      }
    })();
  });
  server.on('upgrade', (req: IncomingMessage, socket: Socket, head: Buffer) => {
    socket.on('error', () => {});
    const r = route(req, domain);
    if (!r) return void socket.end('HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\nconnection: close\r\n\r\n');
    void (async () => {
      try {
        const target = await sandboxes.portTarget(r.id, r.port, r.token);
        const up = connect({ host: target.host, port: target.port });
        up.on('connect', () => {
          const lines = [`${req.method} ${r.path} HTTP/1.1`];
          for (let i = 0; i < req.rawHeaders.length; i += 2) {
            const k = req.rawHeaders[i]!.toLowerCase();
            if (k !== 'authorization' && k !== 'x-airlock-ports-token') lines.push(`${req.rawHeaders[i]}: ${req.rawHeaders[i + 1]}`);
          }
          up.write(`${lines.join('\r\n')}\r\n\r\n`);
          if (head.length > 0) up.write(head);
          socket.pipe(up).pipe(socket);
        });
        up.on('error', () => socket.destroy());
        up.on('close', () => socket.destroy());
        socket.on('close', () => up.destroy());
      } catch (e) {
        const code = e instanceof AirlockError ? e.code : ErrorCode.Internal;
        socket.end(`HTTP/1.1 ${ERROR_STATUS[code]} ${code}\r\ncontent-length: 0\r\nconnection: close\r\n\r\n`);
      }
    })();
  });
}
