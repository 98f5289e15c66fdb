/**
 * @module routes/exec
 * Running commands: the buffered call and the NDJSON stream. Both start the process before
 * answering, so a command that cannot start is a plain 4xx, not a stream event.
 */
import { createRoute, type OpenAPIHono } from '@hono/zod-openapi';
import { EXEC_LIMITS, ExecEvent, ExecRequest, ExecResult } from '@airlock/protocol';
import { invalidRequest } from '../../errors.js';
import type { ExecCommand } from '../../sandbox/exec-run.js';
import type { OutputEvent } from '../../sandbox/exec-run.js';
import type { SandboxService } from '../../sandbox/service.js';
import { principalOf } from '../principal.js';
import { IdParams, errorResponses } from '../schemas.js';

const buffered = createRoute({
  method: 'post',
  path: '/v1/sandboxes/{id}/exec',
  'x-airlock-quota': 'execs',
  summary: 'Run a command and wait for its result',
  request: { params: IdParams, body: { content: { 'application/json': { schema: ExecRequest } }, required: true } },
  responses: {
    200: { description: 'How the command ended and its (capped) output', content: { 'application/json': { schema: ExecResult } } },
    ...errorResponses,
  },
});

const streamed = createRoute({
  method: 'post',
  path: '/v1/sandboxes/{id}/exec/stream',
  'x-airlock-quota': 'execs',
  summary: 'Run a command and stream its output as NDJSON events',
  request: { params: IdParams, body: { content: { 'application/json': { schema: ExecRequest } }, required: true } },
  responses: {
    200: { description: 'One ExecEvent per line; the last is exit or error', content: { 'application/x-ndjson': { schema: ExecEvent } } },
    ...errorResponses,
  },
});

export function execRoutes(app: OpenAPIHono, sandboxes: SandboxService): void {
  app.openapi(buffered, async (c) => {
    const req = c.req.valid('json');
    const started = await sandboxes.exec(c.req.valid('param').id, toCommand(req));
    // The client went away (or its key was revoked): nobody will read the result, so the command is killed.
    const onAbort = () => started.events.abandon();
    // The key's signal lives as long as the key: the listener must go with this request.
    const signals = [c.req.raw.signal, principalOf(c).signal];
    for (const signal of signals) {
      if (signal.aborted) onAbort();
      else signal.addEventListener('abort', onAbort, { once: true });
    }
    try {
      return await collect();
    } finally {
      for (const signal of signals) signal.removeEventListener('abort', onAbort);
    }

    async function collect() {
      const cap = req.maxOutputBytes ?? EXEC_LIMITS.defaultMaxOutputBytes;
      const out = { stdout: new Collector(cap), stderr: new Collector(cap) };
      for await (const ev of started.events) {
        if (ev.type !== 'exit') {
          out[ev.type].add(ev.data);
          continue;
        }
        const encoding = req.encoding ?? 'utf8';
        return c.json(
          {
            stdout: out.stdout.text(encoding),
            stderr: out.stderr.text(encoding),
            encoding,
            exitCode: ev.exitCode,
            signal: ev.signal,
            reason: ev.reason,
            stdoutTruncated: out.stdout.truncated,
            stderrTruncated: out.stderr.truncated,
            durationMs: ev.durationMs,
            ...(ev.detail !== undefined ? { detail: ev.detail } : {}),
            processId: started.processId,
          },
          200,
        );
      }
      // Only when the client left: the queue was abandoned and the answer goes nowhere.
      return new Response(null, { status: 499 }) as never;
    }
  });

  app.openapi(streamed, async (c) => {
    const started = await sandboxes.exec(c.req.valid('param').id, toCommand(c.req.valid('json')));
    const events = started.events[Symbol.asyncIterator]();
    let first = true;
    const body = new ReadableStream<Uint8Array>(
      {
        // Pull-based: the next event is taken only when the client has read the previous one, so
        // a slow client back-pressures the command.
        async pull(controller) {
          if (first) {
            first = false;
            controller.enqueue(line({ type: 'start', pid: started.pid, processId: started.processId }));
            return;
          }
          const { value, done } = await events.next();
          if (done) {
            controller.close();
            return;
          }
          controller.enqueue(line(toWire(value)));
        },
        cancel() {
          started.events.abandon();
        },
      },
      { highWaterMark: 0 },
    );
    return new Response(body, {
      status: 200,
      headers: { 'content-type': 'application/x-ndjson', 'cache-control': 'no-store', 'x-content-type-options': 'nosniff' },
    }) as never;
  });
}

const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;

/** The wire request as a domain command: stdin decoded (strictly), the command form resolved. */
export function toCommand(req: Omit<ExecRequest, 'maxOutputBytes' | 'encoding'>): ExecCommand {
  let stdin: Buffer | undefined;
  if (req.stdin !== undefined) {
    if (req.stdinEncoding === 'base64') {
      const compact = req.stdin.replace(/\s+/g, '');
      if (compact.length % 4 !== 0 || !BASE64.test(compact)) throw invalidRequest('stdin: not valid base64 (stdinEncoding is base64)');
      stdin = Buffer.from(compact, 'base64');
    } else {
      stdin = Buffer.from(req.stdin, 'utf8');
    }
    if (stdin.length > EXEC_LIMITS.maxStdinBytes)
      throw invalidRequest(`stdin: ${stdin.length} bytes, more than the ${EXEC_LIMITS.maxStdinBytes} an exec takes`);
  }
  return {
    argv: req.cmd === undefined ? undefined : typeof req.cmd === 'string' ? ['/bin/sh', '-c', req.cmd] : req.cmd,
    env: req.env,
    cwd: req.cwd,
    user: req.user,
    stdin,
    timeout: req.timeout,
    survive: req.survive,
  };
}

function toWire(ev: OutputEvent): ExecEvent {
  switch (ev.type) {
    case 'stdout':
    case 'stderr':
      return { type: ev.type, data: ev.data.toString('base64') };
    case 'exit':
      return ev;
  }
}

const encoder = new TextEncoder();
function line(ev: ExecEvent): Uint8Array {
  return encoder.encode(`${JSON.stringify(ev)}\n`);
}

/** Keeps the first `cap` bytes of a stream and counts the rest as dropped. */
class Collector {
  readonly #cap: number;
  readonly #chunks: Buffer[] = [];
  #size = 0;
  truncated = false;

  constructor(cap: number) {
    this.#cap = cap;
  }

  add(data: Buffer): void {
    const room = this.#cap - this.#size;
    if (room <= 0) {
      this.truncated = true;
      return;
    }
    const keep = data.length > room ? data.subarray(0, room) : data;
    if (keep.length < data.length) this.truncated = true;
    this.#chunks.push(Buffer.from(keep));
    this.#size += keep.length;
  }

  text(encoding: 'utf8' | 'base64'): string {
    return Buffer.concat(this.#chunks).toString(encoding);
  }
}
