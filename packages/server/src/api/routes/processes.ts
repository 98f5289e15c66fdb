/**
 * @module routes/processes
 * A sandbox's processes over HTTP: start in the background, list, get, wait, signal, stdin (a raw,
 * streamed body), resize, output replay from an offset then live (NDJSON), a WebSocket ticket, and
 * forgetting an ended process. The WebSocket attach itself is api/ws.ts.
 */
import { createRoute, type OpenAPIHono } from '@hono/zod-openapi';
import {
  AttachTicket,
  ListProcessesQuery,
  OutputEvent,
  OutputQuery,
  ProcessInfo,
  ProcessList,
  ProcessParams,
  PtySize,
  SIGNALS,
  SignalRequest,
  StartProcessRequest,
  WaitQuery,
} from '@airlock/protocol';
import { z } from 'zod';
import type { SandboxService } from '../../sandbox/service.js';
import { processToWire } from '../process-wire.js';
import { IdParams, errorResponses } from '../schemas.js';
import { principalOf } from '../principal.js';
import type { Tickets } from '../tickets.js';
import { toCommand } from './exec.js';

const json = <T extends z.ZodType>(schema: T, description: string) => ({ description, content: { 'application/json': { schema } } });
const base = '/v1/sandboxes/{id}/processes';
const one = `${base}/{pid}`;
const ok = { 200: json(ProcessInfo, 'The process'), ...errorResponses };

const routes = {
  start: createRoute({
    method: 'post',
    path: base,
    summary: 'Start a process that outlives every request',
    request: { params: IdParams, body: { content: { 'application/json': { schema: StartProcessRequest } }, required: true } },
    responses: { 201: json(ProcessInfo, 'Started'), ...errorResponses },
  }),
  list: createRoute({
    method: 'get',
    path: base,
    summary: "List the sandbox's processes",
    request: { params: IdParams, query: ListProcessesQuery },
    responses: { 200: json(ProcessList, 'Processes, oldest first'), ...errorResponses },
  }),
  get: createRoute({ method: 'get', path: one, summary: 'One process', request: { params: ProcessParams }, responses: ok }),
  wait: createRoute({
    method: 'get',
    path: `${one}/wait`,
    summary: 'Wait for a process to end (at most `timeout` seconds)',
    request: { params: ProcessParams, query: WaitQuery },
    responses: ok,
  }),
  signal: createRoute({
    method: 'post',
    path: `${one}/signal`,
    summary: "Signal the process's group (409 once it exited)",
    request: { params: ProcessParams, body: { content: { 'application/json': { schema: SignalRequest } }, required: true } },
    responses: ok,
  }),
  stdin: createRoute({
    method: 'post',
    path: `${one}/stdin`,
    summary: 'Write the request body to its stdin (streamed; ?close=true closes stdin after)',
    request: {
      params: ProcessParams,
      query: z.object({ close: z.enum(['true', 'false']).optional() }),
      body: { content: { 'application/octet-stream': { schema: z.string().meta({ format: 'binary' }) } }, required: false },
    },
    responses: { 200: json(z.object({ bytes: z.number().int() }), 'Written'), ...errorResponses },
  }),
  closeStdin: createRoute({
    method: 'post',
    path: `${one}/stdin/close`,
    summary: 'Close its stdin (409 for a terminal: send Ctrl-D)',
    request: { params: ProcessParams },
    responses: ok,
  }),
  resize: createRoute({
    method: 'post',
    path: `${one}/resize`,
    summary: 'Resize its terminal (409 without one)',
    request: { params: ProcessParams, body: { content: { 'application/json': { schema: PtySize } }, required: true } },
    responses: ok,
  }),
  output: createRoute({
    method: 'get',
    path: `${one}/output`,
    'x-airlock-quota': 'execs',
    summary: 'Its output from an offset, then live (NDJSON)',
    request: { params: ProcessParams, query: OutputQuery },
    responses: {
      200: {
        description: 'One event per line; the last is exit (or the stream ends when follow=false)',
        content: { 'application/x-ndjson': { schema: OutputEvent } },
      },
      410: json(z.object({ code: z.string(), message: z.string() }), 'The offset fell out of the journal'),
      ...errorResponses,
    },
  }),
  ticket: createRoute({
    method: 'post',
    path: `${one}/ticket`,
    summary: 'A short-lived, single-use ticket for the WebSocket attach (browsers cannot send Authorization)',
    request: { params: ProcessParams },
    responses: { 200: json(AttachTicket, 'The ticket'), ...errorResponses },
  }),
  forget: createRoute({
    method: 'delete',
    path: one,
    summary: 'Forget an ended process and its journal (409 while it runs)',
    request: { params: ProcessParams },
    responses: { 200: json(z.object({ id: z.string(), forgotten: z.literal(true) }), 'Forgotten'), ...errorResponses },
  }),
};

export function processRoutes(app: OpenAPIHono, sandboxes: SandboxService, tickets: Tickets): void {
  const svc = sandboxes.processes;
  app.openapi(routes.start, async (c) => {
    const req = c.req.valid('json');
    const cmd = { ...toCommand(req), tag: req.tag, pty: req.pty, keepStdin: req.keepStdin };
    return c.json(processToWire(await svc.start(c.req.valid('param').id, cmd)), 201);
  });
  app.openapi(routes.list, async (c) => c.json({ processes: (await svc.list(c.req.valid('param').id, c.req.valid('query').tag)).map(processToWire) }, 200));
  app.openapi(routes.get, async (c) => {
    const { id, pid } = c.req.valid('param');
    return c.json(processToWire(await svc.get(id, pid)), 200);
  });
  app.openapi(routes.wait, async (c) => {
    const { id, pid } = c.req.valid('param');
    return c.json(processToWire(await svc.wait(id, pid, (c.req.valid('query').timeout ?? 30) * 1000)), 200);
  });
  app.openapi(routes.signal, async (c) => {
    const { id, pid } = c.req.valid('param');
    const { signal } = c.req.valid('json');
    await svc.signal(id, pid, typeof signal === 'number' ? signal : SIGNALS[signal]);
    return c.json(processToWire(await svc.get(id, pid)), 200);
  });
  app.openapi(routes.stdin, async (c) => {
    const { id, pid } = c.req.valid('param');
    const body = (c.req.raw.body ?? emptyStream()) as unknown as AsyncIterable<Uint8Array>;
    return c.json({ bytes: await svc.writeStdin(id, pid, body, c.req.valid('query').close === 'true') }, 200);
  });
  app.openapi(routes.closeStdin, async (c) => {
    const { id, pid } = c.req.valid('param');
    await svc.closeStdin(id, pid);
    return c.json(processToWire(await svc.get(id, pid)), 200);
  });
  app.openapi(routes.resize, async (c) => {
    const { id, pid } = c.req.valid('param');
    const { cols, rows } = c.req.valid('json');
    return c.json(processToWire(await svc.resize(id, pid, cols, rows)), 200);
  });
  app.openapi(routes.output, async (c) => {
    const { id, pid } = c.req.valid('param');
    const q = c.req.valid('query');
    const follow = q.follow !== 'false';
    // Opened before answering: an offset that fell out is a 410, not a stream event.
    const { entry, reader } = await svc.reader(id, pid, q.offset ?? 0, { onGap: q.gap ?? 'error', pace: false });
    const enc = new TextEncoder();
    const line = (ev: OutputEvent) => enc.encode(`${JSON.stringify(ev)}\n`);
    const body = new ReadableStream<Uint8Array>(
      {
        async pull(controller) {
          try {
            if (!follow && reader.cursor >= entry.journal.head && !entry.exit) return controller.close();
            const items = await reader.next();
            if (items === 'end') {
              const x = entry.exit;
              if (x) controller.enqueue(line({ type: 'exit', exitCode: x.code, signal: x.signal, reason: x.reason, offset: reader.cursor }));
              reader.close();
              return controller.close();
            }
            for (const it of items) {
              controller.enqueue(
                line(it.type === 'gap' ? it : { type: it.stream === 0 ? 'stdout' : 'stderr', offset: it.offset, data: it.data.toString('base64') }),
              );
            }
          } catch (e) {
            const err = e as { code?: string; message: string };
            controller.enqueue(line({ type: 'error', code: err.code ?? 'internal', message: err.message }));
            reader.close();
            controller.close();
          }
        },
        cancel() {
          reader.close();
        },
      },
      { highWaterMark: 0 },
    );
    return new Response(body, {
      status: 200,
      headers: { 'content-type': 'application/x-ndjson', 'cache-control': 'no-store', 'x-content-type-options': 'nosniff' },
    }) as never;
  });
  app.openapi(routes.ticket, async (c) => {
    const { id, pid } = c.req.valid('param');
    await svc.get(id, pid); // 404 now rather than at the upgrade
    // The ticket carries the key's project and revocation: the attach it opens ends with the key.
    const t = tickets.issue(id, pid, principalOf(c));
    const url = new URL(c.req.url);
    url.protocol = url.protocol === 'https:' ? 'wss:' : 'ws:';
    url.pathname = `/v1/sandboxes/${encodeURIComponent(id)}/processes/${encodeURIComponent(pid)}/attach`;
    url.search = `?ticket=${t.ticket}`;
    return c.json({ ticket: t.ticket, expiresAt: new Date(t.expiresAt).toISOString(), url: url.toString() }, 200);
  });
  app.openapi(routes.forget, async (c) => {
    const { id, pid } = c.req.valid('param');
    await svc.forget(id, pid);
    return c.json({ id: pid, forgotten: true as const }, 200);
  });
}

function emptyStream(): ReadableStream<Uint8Array> {
  return new ReadableStream({ start: (c) => c.close() });
}
