/**
 * @module routes/files
 * File transfer as raw bodies. Paths are checked for shape here (absolute, no NUL) and resolved by
 * the agent inside the sandbox.
 */
import { createRoute, type OpenAPIHono } from '@hono/zod-openapi';
import { FileList, FilePathQuery, ListQuery, WriteFileQuery, WriteFileResult } from '@airlock/protocol';
import { ErrorCode } from '@airlock/protocol/errors';
import { z } from 'zod';
import { AirlockError } from '../../errors.js';
import type { SandboxService } from '../../sandbox/service.js';
import { IdParams, errorResponses } from '../schemas.js';

const write = createRoute({
  method: 'put',
  path: '/v1/sandboxes/{id}/files',
  summary: 'Write a file (atomically; parents are created)',
  request: {
    params: IdParams,
    query: WriteFileQuery,
    body: { content: { 'application/octet-stream': { schema: z.string().meta({ format: 'binary' }) } }, required: false },
  },
  responses: { 200: { description: 'Written', content: { 'application/json': { schema: WriteFileResult } } }, ...errorResponses },
});

const read = createRoute({
  method: 'get',
  path: '/v1/sandboxes/{id}/files',
  summary: 'Read a file',
  request: { params: IdParams, query: FilePathQuery },
  responses: {
    200: { description: 'The file bytes', content: { 'application/octet-stream': { schema: z.string().meta({ format: 'binary' }) } } },
    ...errorResponses,
  },
});

const list = createRoute({
  method: 'get',
  path: '/v1/sandboxes/{id}/files/list',
  summary: 'List a directory',
  request: { params: IdParams, query: ListQuery },
  responses: { 200: { description: 'Directory entries', content: { 'application/json': { schema: FileList } } }, ...errorResponses },
});

export function fileRoutes(app: OpenAPIHono, sandboxes: SandboxService, limits: { maxWriteBytes: number }): void {
  app.openapi(write, async (c) => {
    const { id } = c.req.valid('param');
    const q = c.req.valid('query');
    // Refused before a byte is read when the client says how much it sends.
    const declared = Number(c.req.header('content-length') ?? 'NaN');
    if (declared > limits.maxWriteBytes) throw tooLarge(limits.maxWriteBytes);
    const bytes = await sandboxes.writeFile(id, q.path, limited(c.req.raw.body, limits.maxWriteBytes), {
      ...(q.mode !== undefined ? { mode: parseInt(q.mode, 8) } : {}),
      ...(q.user !== undefined ? { user: q.user } : {}),
    });
    return c.json({ path: q.path, bytes }, 200);
  });

  app.openapi(read, async (c) => {
    const { id } = c.req.valid('param');
    const q = c.req.valid('query');
    const chunks = (await sandboxes.readFile(id, q.path, q.user === undefined ? {} : { user: q.user }))[Symbol.asyncIterator]();
    const body = new ReadableStream<Uint8Array>(
      {
        async pull(controller) {
          const { value, done } = await chunks.next();
          if (done) controller.close();
          else controller.enqueue(value);
        },
        async cancel() {
          await chunks.return?.(undefined);
        },
      },
      { highWaterMark: 0 },
    );
    return new Response(body, { status: 200, headers: { 'content-type': 'application/octet-stream' } }) as never;
  });

  app.openapi(list, async (c) => {
    const { id } = c.req.valid('param');
    const { path, user, depth } = c.req.valid('query');
    const entries = await sandboxes.fileOps.list(id, path, { user, depth });
    return c.json(
      {
        path,
        entries: entries.map((e) => ({ name: e.name, type: e.kind, size: e.size, mode: e.mode & 0o7777, mtime: new Date(e.mtime * 1000).toISOString() })),
      },
      200,
    );
  });
}

const tooLarge = (max: number) => new AirlockError(ErrorCode.PayloadTooLarge, `files are limited to ${max} bytes per write on this server`);

/** The request body as chunks, failing once it passes the write limit (a chunked body has no length to check first). */
async function* limited(body: ReadableStream<Uint8Array> | null, max: number): AsyncGenerator<Uint8Array> {
  if (body === null) return;
  let total = 0;
  for await (const chunk of body as unknown as AsyncIterable<Uint8Array>) {
    total += chunk.length;
    if (total > max) throw tooLarge(max);
    yield chunk;
  }
}
