/**
 * @module ws
 * The WebSocket attach to a process: GET /v1/sandboxes/{id}/processes/{pid}/attach with Upgrade.
 * Authenticated by `Authorization: Bearer` or a ticket from POST …/ticket (browsers cannot set a
 * header on a WebSocket); either way it acts for one key, which must be allowed to write (an
 * attach can send stdin and signals) and whose project must own the sandbox (404 otherwise, as for
 * one that does not exist). The attach counts against the project's execs quota while open, and
 * ends (close code 4401) the moment the key is revoked or expires. Output goes out as binary frames (a stream byte, then the bytes), stdin
 * comes in as binary frames, and small JSON text frames carry control (protocol processes.ts).
 *
 * Memory is bounded per attach: output is read from the journal only while the client has acked
 * within ATTACH_LIMITS.unackedBytes and the socket's buffer is small, so a client that reads slowly
 * holds only its own cursor. With `pace=true` the attach also holds the process (the agent is
 * acknowledged no further than this reader), as a real terminal does. Closing the socket, however
 * abruptly, closes the reader and leaves nothing behind.
 *
 * `snapshot=true` on a terminal sends its screen first (processes/screen-snapshot.ts).
 *
 * Built on `ws` (upgrade handled on the node server with `noServer`): see docs/architecture.md.
 */
import type { IncomingMessage, Server } from 'node:http';
import type { Duplex } from 'node:stream';
import { ATTACH_CLOSE, ATTACH_LIMITS, SIGNALS, type AttachServerMessage } from '@airlock/protocol';
import { ErrorCode } from '@airlock/protocol/errors';
import { WebSocketServer, type RawData, type WebSocket } from 'ws';
import type { Principal, Principals } from '../auth/principals.js';
import { AirlockError, notFound } from '../errors.js';
import type { Logger } from '../log.js';
import type { JournalReader } from '../processes/journal-reader.js';
import type { ProcessEntry } from '../processes/process-entry.js';
import { screenSnapshot } from '../processes/screen-snapshot.js';
import type { SandboxService } from '../sandbox/service.js';
import { SANDBOX_ID_CHARS } from '../sandbox/ids.js';
import type { AuditLog } from '../tenancy/audit-log.js';
import type { ProjectQuotas } from '../tenancy/quotas.js';
import type { KeyRateLimiter } from '../tenancy/rate-limit.js';
import { bearerOf } from './auth.js';
import { ERROR_STATUS } from './error-status.js';
import { sees } from './principal.js';
import type { Tickets } from './tickets.js';

const PATH = /^\/v1\/sandboxes\/([^/]+)\/processes\/([^/]+)\/attach$/;
const STDIN_PAUSE_BYTES = 256 * 1024;

export interface WebSocketDeps {
  sandboxes: SandboxService;
  principals: Principals;
  quotas: ProjectQuotas;
  rate: KeyRateLimiter;
  audit: AuditLog;
  tickets: Tickets;
  log: Logger;
  /** The exposed ports' host names (`{port}-{id}.{domain}`): every path there belongs to the sandbox. */
  portsDomain?: string | null;
}

/**
 * Takes the server's upgrades: an attach is handled here; every other upgrade (an exposed port's
 * WebSocket, api/ports-gateway.ts) goes to the listeners that were there before. Install it after them.
 */
export function attachWebSockets(server: Server, deps: WebSocketDeps): { close(): void } {
  const wss = new WebSocketServer({ noServer: true, maxPayload: ATTACH_LIMITS.maxClientFrame, perMessageDeflate: false });
  const others = server.listeners('upgrade') as ((req: IncomingMessage, socket: Duplex, head: Buffer) => void)[];
  server.removeAllListeners('upgrade');
  const portsHost = deps.portsDomain ? new RegExp(`^\\d{1,5}-sb-${SANDBOX_ID_CHARS}\\.${deps.portsDomain.replace(/\./g, '\\.')}(:\\d+)?$`, 'i') : undefined;
  server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    const path = new URL(req.url ?? '/', 'http://localhost').pathname;
    if (!PATH.test(path) || portsHost?.test(req.headers.host ?? '')) {
      if (others.length === 0) return void socket.end('HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\nconnection: close\r\n\r\n');
      for (const l of others) l.call(server, req, socket, head);
      return;
    }
    socket.on('error', () => {});
    const t0 = performance.now();
    const who: Who = {};
    void upgrade(wss, deps, req, socket, head, who)
      .catch((err: unknown): Refusal => {
        deps.log.error({ err }, 'WebSocket upgrade failed');
        return refuse(socket, 500, 'internal', 'internal error');
      })
      .then((outcome) => {
        // The request log's line for an attach, as request-log.ts writes one for every other route.
        const sandbox = PATH.exec(path)?.[1];
        const line = {
          method: req.method ?? 'GET',
          route: ATTACH_ROUTE,
          status: outcome.status,
          ms: Math.round((performance.now() - t0) * 10) / 10,
          ...(who.keyId ? { key: who.keyId, project: who.project } : {}),
          ...(sandbox && SANDBOX_ID.test(sandbox) ? { sandbox } : {}),
          ...(outcome.code ? { code: outcome.code } : {}),
        };
        if (outcome.status >= 500) deps.log.warn(line, 'request');
        else deps.log.info(line, 'request');
      });
  });
  return {
    close: () => {
      for (const ws of wss.clients) ws.close(ATTACH_CLOSE.serverClosing, 'the server is shutting down');
      wss.close();
    },
  };
}

/** Who an attach request came from, once its key or ticket is known (for its log line). */
interface Who {
  keyId?: string;
  project?: string;
}
/** How an upgrade ended: 101, or the status of its refusal. */
interface Refusal {
  status: number;
  code?: string;
}
const ATTACH_ROUTE = '/v1/sandboxes/:id/processes/:pid/attach';
const SANDBOX_ID = /^[A-Za-z0-9_-]{1,64}$/;

async function upgrade(wss: WebSocketServer, deps: WebSocketDeps, req: IncomingMessage, socket: Duplex, head: Buffer, who: Who): Promise<Refusal> {
  const url = new URL(req.url ?? '/', 'http://localhost');
  const m = PATH.exec(url.pathname);
  if (!m) return refuse(socket, 404, 'not_found', `no WebSocket route for ${url.pathname}`);
  const [sandboxId, pid] = [decodeURIComponent(m[1]!), decodeURIComponent(m[2]!)];
  const bearer = bearerOf(req.headers.authorization);
  const ticket = url.searchParams.get('ticket');
  const principal =
    bearer !== undefined ? await deps.principals.authenticate(bearer) : ticket !== null ? deps.tickets.redeem(ticket, sandboxId, pid) : undefined;
  if (!principal)
    return refuse(
      socket,
      401,
      'unauthenticated',
      bearer === undefined && ticket === null ? 'send Authorization: Bearer <key>, or a ?ticket= from POST …/ticket' : 'the API key or ticket is not valid',
    );
  who.keyId = principal.keyId;
  who.project = principal.project;
  const auditAs = (status: number, result: string, project = principal.project) =>
    deps.audit.record({
      keyId: principal.keyId,
      project,
      action: 'GET /v1/sandboxes/{id}/processes/{pid}/attach',
      target: `${sandboxId}/${pid}`,
      status,
      result,
      argv: null,
    });
  let release: () => void;
  let project = principal.project;
  try {
    if (principal.role === 'read')
      throw new AirlockError(
        ErrorCode.PermissionDenied,
        'this key is read-only: an attach can write to the process (stdin, signals); read its output with GET …/output',
      );
    deps.rate.take(principal.keyId);
    const record = await deps.sandboxes.get(sandboxId);
    if (!sees(principal, record.project)) throw notFound(`sandbox ${sandboxId}`);
    project = record.project;
    release = deps.quotas.acquire(project, 'execs');
  } catch (e) {
    if (!(e instanceof AirlockError)) throw e;
    await auditAs(ERROR_STATUS[e.code], e.code, project);
    return refuse(socket, ERROR_STATUS[e.code], e.code, e.message, e.retryAfterSeconds);
  }
  const offsetArg = url.searchParams.get('offset');
  const offset = offsetArg === null ? undefined : Number(offsetArg);
  if (offset !== undefined && (!Number.isSafeInteger(offset) || offset < 0))
    return refuse(socket, 400, 'invalid_request', 'offset must be a non-negative integer');
  const gap = url.searchParams.get('gap') === 'skip' ? 'skip' : 'error';
  const pace = url.searchParams.get('pace') === 'true';
  let opened: { entry: ProcessEntry; reader: JournalReader };
  let snapshot: { data: Buffer; offset: number } | undefined;
  try {
    const entry = await deps.sandboxes.processes.get(sandboxId, pid);
    // A terminal's screen as it is now, then live from where it was drawn.
    if (url.searchParams.get('snapshot') === 'true' && entry.facts.pty) snapshot = await screenSnapshot(entry);
    // Default: live from now on (a terminal), or from the offset asked for.
    opened = await deps.sandboxes.processes.reader(sandboxId, pid, snapshot?.offset ?? offset ?? entry.journal.head, { onGap: gap, pace });
  } catch (e) {
    release();
    if (e instanceof AirlockError) {
      await auditAs(ERROR_STATUS[e.code], e.code, project);
      return refuse(socket, ERROR_STATUS[e.code], e.code, e.message);
    }
    throw e;
  }
  if (principal.signal.aborted) {
    release();
    opened.reader.close();
    return refuse(socket, 401, 'unauthenticated', 'the API key or ticket is not valid');
  }
  await auditAs(101, 'ok', project);
  // Released however the socket ends, even if the upgrade never completes.
  socket.once('close', release);
  wss.handleUpgrade(req, socket, head, (ws) => {
    session(ws, opened.entry, opened.reader, deps.log, principal, snapshot);
  });
  return { status: 101 };
}

function refuse(socket: Duplex, status: number, code: string, message: string, retryAfter?: number): Refusal {
  const body = JSON.stringify({ code, message });
  const extra = retryAfter === undefined ? '' : `retry-after: ${retryAfter}\r\n`;
  socket.end(
    `HTTP/1.1 ${status} ${status === 401 ? 'Unauthorized' : 'Error'}\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\n${extra}connection: close\r\n\r\n${body}`,
  );
  return { status, code };
}

function session(
  ws: WebSocket,
  entry: ProcessEntry,
  reader: JournalReader,
  log: Logger,
  principal: Principal,
  snapshot?: { data: Buffer; offset: number },
): void {
  let acked = reader.cursor;
  let closed = false;
  let stdinPending = 0;
  let stdinChain = Promise.resolve();
  let wake: (() => void) | undefined;
  let pendingSize: { cols: number; rows: number } | undefined;
  let resizeTimer: NodeJS.Timeout | undefined;
  const applySize = () => {
    const size = pendingSize;
    pendingSize = undefined;
    if (!size || !entry.channel || (size.cols === entry.facts.cols && size.rows === entry.facts.rows)) return;
    entry.channel.resize(size.cols, size.rows);
    entry.facts.cols = size.cols;
    entry.facts.rows = size.rows;
    resizeTimer = setTimeout(() => {
      resizeTimer = undefined;
      applySize();
    }, 20);
  };
  const poke = () => {
    wake?.();
    wake = undefined;
  };
  const send = (msg: AttachServerMessage) => ws.send(JSON.stringify(msg));
  const end = (code: number, reason: string) => {
    if (closed) return;
    closed = true;
    reader.close();
    ws.close(code, reason);
  };
  // Revoked or expired while attached: the session ends now, not at the key's next request.
  const onRevoked = () => end(ATTACH_CLOSE.unauthenticated, 'the API key is no longer valid');
  principal.signal.addEventListener('abort', onRevoked, { once: true });
  ws.on('close', () => {
    closed = true;
    principal.signal.removeEventListener('abort', onRevoked);
    clearTimeout(resizeTimer);
    reader.close();
    poke();
  });
  ws.on('error', () => {});
  ws.on('message', (data: RawData, isBinary: boolean) => {
    const buf = Array.isArray(data) ? Buffer.concat(data) : Buffer.from(data as Buffer);
    if (isBinary) {
      const ch = entry.channel;
      if (!ch || !entry.facts.keepStdin) return; // ended, or no stdin: input goes nowhere, as on a closed pipe
      stdinPending += buf.length;
      if (stdinPending > STDIN_PAUSE_BYTES) ws.pause();
      stdinChain = stdinChain
        .then(() => ch.writeStdin(buf))
        .catch(() => {})
        .then(() => {
          stdinPending -= buf.length;
          if (stdinPending <= STDIN_PAUSE_BYTES) ws.resume();
        });
      return;
    }
    const msg = parseControl(buf);
    if (!msg) return end(ATTACH_CLOSE.protocol, 'malformed control message');
    const ch = entry.channel;
    switch (msg.type) {
      case 'ack':
        acked = Math.max(acked, Math.min(msg.offset, reader.cursor));
        return poke();
      case 'resize':
        // At once, then coalesced: a client that sends resizes in a burst costs one RESIZE per 20 ms.
        if (entry.facts.pty && ch) {
          pendingSize = { cols: msg.cols, rows: msg.rows };
          if (resizeTimer === undefined) applySize();
        }
        return;
      case 'signal':
        ch?.signal(msg.signo);
        return;
      case 'close_stdin':
        // After the stdin still on its way, never before it.
        if (!entry.facts.pty && ch) stdinChain = stdinChain.then(() => ch.closeStdin());
        return;
      case 'ping':
        return send({ type: 'pong' });
    }
  });
  send({
    type: 'attached',
    id: entry.facts.id,
    pid: entry.pid,
    pty: entry.facts.pty,
    size: entry.facts.pty ? { cols: entry.facts.cols, rows: entry.facts.rows } : null,
    offset: reader.cursor,
  });
  if (snapshot) {
    // The screen first (it is not output: it does not move the offset), then output from where it was drawn.
    send({ type: 'snapshot', offset: snapshot.offset, bytes: snapshot.data.length });
    ws.send(Buffer.concat([Buffer.of(0), snapshot.data]), { binary: true });
  }
  void (async () => {
    try {
      while (!closed) {
        // Bounded: nothing more is read for this client until it acks and its socket drains.
        if (reader.cursor - acked >= ATTACH_LIMITS.unackedBytes || ws.bufferedAmount > ATTACH_LIMITS.unackedBytes) {
          await new Promise<void>((r) => {
            wake = r;
            setTimeout(r, 50).unref();
          });
          continue;
        }
        const items = await reader.next();
        if (closed) return;
        if (items === 'end') {
          const x = entry.exit;
          if (!x) return end(ATTACH_CLOSE.gone, 'the process was forgotten');
          send({ type: 'exit', exitCode: x.code, signal: x.signal, reason: x.reason, offset: reader.cursor });
          return end(x.reason === 'sandbox_stopped' ? ATTACH_CLOSE.sandboxStopped : ATTACH_CLOSE.exited, x.reason);
        }
        for (const it of items) {
          if (it.type === 'gap') send(it);
          else ws.send(Buffer.concat([Buffer.of(it.stream), it.data]), { binary: true });
        }
        reader.took();
      }
    } catch (e) {
      const err = e as { code?: string; message: string };
      if (err.code === 'offset_gone') {
        send({ type: 'error', code: err.code, message: err.message });
        return end(ATTACH_CLOSE.offsetGone, 'offset gone');
      }
      log.warn({ err: e }, 'attach failed');
      end(1011, 'internal error');
    }
  })();
}

type Control =
  | { type: 'ack'; offset: number }
  | { type: 'resize'; cols: number; rows: number }
  | { type: 'signal'; signo: number }
  | { type: 'close_stdin' }
  | { type: 'ping' };

/** The client's control messages, checked field by field (they come from the network). */
function parseControl(buf: Buffer): Control | undefined {
  let v: Record<string, unknown>;
  try {
    v = JSON.parse(buf.toString('utf8')) as Record<string, unknown>;
  } catch {
    return undefined;
  }
  if (typeof v !== 'object' || v === null) return undefined;
  const int = (x: unknown, lo: number, hi: number) => (typeof x === 'number' && Number.isInteger(x) && x >= lo && x <= hi ? x : undefined);
  switch (v.type) {
    case 'ack': {
      const offset = int(v.offset, 0, Number.MAX_SAFE_INTEGER);
      return offset === undefined ? undefined : { type: 'ack', offset };
    }
    case 'resize': {
      const cols = int(v.cols, 1, 1000);
      const rows = int(v.rows, 1, 1000);
      return cols === undefined || rows === undefined ? undefined : { type: 'resize', cols, rows };
    }
    case 'signal': {
      const signo = typeof v.signal === 'string' ? (SIGNALS as Record<string, number>)[v.signal] : int(v.signal, 1, 64);
      return signo === undefined ? undefined : { type: 'signal', signo };
    }
    case 'close_stdin':
    case 'ping':
      return { type: v.type };
    default:
      return undefined;
  }
}
