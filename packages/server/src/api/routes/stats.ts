/**
 * @module routes/stats
 * A running sandbox's resource use: one sample, or (`follow=1`) one NDJSON line per interval until
 * the sandbox stops or the client leaves.
 */
import { createRoute, z, type OpenAPIHono } from '@hono/zod-openapi';
import { SandboxStats } from '@airlock/protocol';
import type { SandboxStatsReader } from '../../observe/stats.js';
import { principalOf, scopeOf } from '../principal.js';
import { IdParams, errorResponses } from '../schemas.js';

const StatsQuery = z.object({
  follow: z.enum(['0', '1', 'true', 'false']).optional().describe('Stream a sample per interval as NDJSON'),
  interval: z.coerce.number().min(0.25).max(60).optional().describe('Seconds between streamed samples (default 1)'),
});

const stats = createRoute({
  method: 'get',
  path: '/v1/sandboxes/{id}/stats',
  summary: "A running sandbox's CPU, memory, pids, disk and network use, read from the host",
  request: { params: IdParams, query: StatsQuery },
  responses: {
    200: {
      description: 'One sample; with follow=1, one per line (application/x-ndjson) until the sandbox stops',
      content: { 'application/json': { schema: SandboxStats }, 'application/x-ndjson': { schema: SandboxStats } },
    },
    ...errorResponses,
  },
});

export function statsRoutes(app: OpenAPIHono, reader: SandboxStatsReader): void {
  app.openapi(stats, async (c) => {
    const { id } = c.req.valid('param');
    const q = c.req.valid('query');
    const who = scopeOf(principalOf(c));
    const read = (id: string) => reader.read(id, who);
    const first = await read(id);
    if (q.follow !== '1' && q.follow !== 'true') return c.json(first, 200);
    const intervalMs = (q.interval ?? 1) * 1000;
    // The client leaving, or its key being revoked or expiring: either ends the stream.
    const signal = AbortSignal.any([c.req.raw.signal, principalOf(c).signal]);
    const enc = new TextEncoder();
    let sent = false;
    const body = new ReadableStream<Uint8Array>(
      {
        async pull(controller) {
          if (!sent) {
            sent = true;
            controller.enqueue(enc.encode(`${JSON.stringify(first)}\n`));
            return;
          }
          await new Promise((r) => setTimeout(r, intervalMs));
          if (signal.aborted) return controller.close();
          try {
            controller.enqueue(enc.encode(`${JSON.stringify(await read(id))}\n`));
          } catch {
            // The sandbox stopped (or went): the stream ends; a new request says why.
            controller.close();
          }
        },
      },
      { highWaterMark: 0 },
    );
    return new Response(body, { status: 200, headers: { 'content-type': 'application/x-ndjson', 'cache-control': 'no-store' } }) as never;
  });
}
