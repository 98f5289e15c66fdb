/**
 * @module routes/events
 * The caller's project's lifecycle events as Server-Sent Events. A client resumes where it left off
 * with the Last-Event-ID header (or `?since=`): the kept events after it are replayed, then new ones
 * follow. Events are read from the log's table at the client's pace, so a slow client holds no
 * queue; a comment line every 15 s keeps proxies from closing an idle stream.
 */
import { createRoute, z, type OpenAPIHono } from '@hono/zod-openapi';
import { EVENT_TYPES, LifecycleEvent } from '@airlock/protocol';
import { invalidRequest } from '../../errors.js';
import type { EventLog } from '../../observe/event-log.js';
import { principalOf, scopeOf } from '../principal.js';
import { errorResponses } from '../schemas.js';

const EventsQuery = z.object({
  since: z
    .string()
    .regex(/^\d{1,15}$/)
    .optional()
    .describe('Replay events after this id (Last-Event-ID wins when both are given)'),
  types: z.string().max(1024).optional().describe('Comma-separated event types (default: all)'),
  sandbox: z.string().max(128).optional().describe("Only this sandbox's events"),
});

const events = createRoute({
  method: 'get',
  path: '/v1/events',
  summary: "The project's lifecycle events as Server-Sent Events (resumable with Last-Event-ID)",
  request: { query: EventsQuery },
  responses: {
    200: {
      description: 'text/event-stream: `id`, `event` (the type) and `data` (a LifecycleEvent) per event',
      content: { 'text/event-stream': { schema: LifecycleEvent } },
    },
    ...errorResponses,
  },
});

const REPLAY_BATCH = 500;
const HEARTBEAT_MS = 15_000;

export function eventRoutes(app: OpenAPIHono, log: EventLog, serverStopping: AbortSignal): void {
  app.openapi(events, async (c) => {
    const who = scopeOf(principalOf(c));
    const q = c.req.valid('query');
    const lastId = c.req.header('last-event-id');
    if (lastId !== undefined && !/^\d{1,15}$/.test(lastId)) throw invalidRequest('Last-Event-ID must be an event id (digits)');
    const types = q.types?.split(',').filter(Boolean);
    const unknown = types?.find((t) => !(EVENT_TYPES as readonly string[]).includes(t));
    if (unknown !== undefined) throw invalidRequest(`unknown event type ${unknown.slice(0, 64)}; types are ${EVENT_TYPES.join(', ')}`);
    const wanted = (e: LifecycleEvent) =>
      e.project === who.project && (!types || types.includes(e.type)) && (q.sandbox === undefined || e.sandbox === q.sandbox);
    const resumeFrom = lastId ?? q.since;
    // No resumption: only what happens from now on.
    let cursor = resumeFrom !== undefined ? Number(resumeFrom) : log.latest();
    const enc = new TextEncoder();
    let wake: (() => void) | undefined;
    // The events are in the log's table: a new one only wakes the stream, which reads from its cursor,
    // so a slow client holds no queue of its own and misses nothing.
    const unsubscribe = log.subscribe((e) => {
      if (e.project === who.project) wake?.();
    });
    // The client leaving, or its key being revoked or expiring: either ends the stream.
    // The client left, its key was revoked, or the server is stopping (its listener waits for open streams).
    const signal = AbortSignal.any([c.req.raw.signal, principalOf(c).signal, serverStopping]);
    const stop = () => {
      unsubscribe();
      wake?.();
    };
    signal.addEventListener('abort', stop, { once: true });
    const frame = (e: LifecycleEvent) => `id: ${e.id}\nevent: ${e.type}\ndata: ${JSON.stringify(e)}\n\n`;

    const body = new ReadableStream<Uint8Array>(
      {
        start(controller) {
          controller.enqueue(enc.encode(': airlock events\nretry: 2000\n\n'));
          const oldest = log.oldest(who.project);
          if (resumeFrom !== undefined && oldest !== undefined && oldest > cursor + 1) {
            // Ids run through every project, so a gap may be other projects' events; say what is known.
            controller.enqueue(enc.encode(`: events after ${cursor} may no longer be kept: the oldest kept is ${oldest}\n\n`));
          }
        },
        async pull(controller) {
          for (;;) {
            if (signal.aborted) return controller.close();
            const batch = log.since(who.project, cursor, REPLAY_BATCH);
            if (batch.length > 0) {
              cursor = Number(batch.at(-1)!.id);
              const out = batch.filter(wanted);
              if (out.length === 0) continue;
              controller.enqueue(enc.encode(out.map(frame).join('')));
              return;
            }
            const woken = await new Promise<boolean>((resolve) => {
              const t = setTimeout(() => resolve(false), HEARTBEAT_MS);
              wake = () => {
                clearTimeout(t);
                wake = undefined;
                resolve(true);
              };
            });
            if (!woken) {
              controller.enqueue(enc.encode(': keep-alive\n\n'));
              return;
            }
          }
        },
        cancel: stop,
      },
      { highWaterMark: 0 },
    );
    return new Response(body, {
      status: 200,
      headers: { 'content-type': 'text/event-stream', 'cache-control': 'no-store', 'x-accel-buffering': 'no', connection: 'close' },
    }) as never;
  });
}
