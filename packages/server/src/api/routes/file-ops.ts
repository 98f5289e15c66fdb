/**
 * @module routes/file-ops
 * The file API beyond read/write/list: stat, exists, mkdir, remove, rename, chmod, multi-file
 * writes, directory archives (tar, both ways) and watch (NDJSON). Paths are checked for shape here
 * and resolved by the agent inside the sandbox.
 */
import { createRoute, type OpenAPIHono } from '@hono/zod-openapi';
import {
  ArchiveQuery,
  ArchiveResult,
  BatchWriteRequest,
  BatchWriteResult,
  ChmodRequest,
  Exists,
  FilePathQuery,
  FileStat,
  MkdirRequest,
  RemoveQuery,
  RenameRequest,
  StatQuery,
  WatchEventWire,
  WatchQuery,
} from '@airlock/protocol';
import { z } from 'zod';
import { invalidRequest } from '../../errors.js';
import { packDirectory, unpackInto } from '../../sandbox/archive.js';
import type { SandboxService } from '../../sandbox/service.js';
import { IdParams, errorResponses } from '../schemas.js';

const json = <T extends z.ZodType>(schema: T, description: string) => ({ description, content: { 'application/json': { schema } } });
const body = <T extends z.ZodType>(schema: T) => ({ content: { 'application/json': { schema } }, required: true });
const Done = z.object({ path: z.string() });
const f = '/v1/sandboxes/{id}/files';
const binary = z.string().meta({ format: 'binary' });

const routes = {
  stat: createRoute({
    method: 'get',
    path: `${f}/stat`,
    summary: 'Stat a path',
    request: { params: IdParams, query: StatQuery },
    responses: { 200: json(FileStat, 'What the path is'), ...errorResponses },
  }),
  exists: createRoute({
    method: 'get',
    path: `${f}/exists`,
    summary: 'Whether a path exists (a dangling symlink does)',
    request: { params: IdParams, query: FilePathQuery },
    responses: { 200: json(Exists, 'Whether it exists'), ...errorResponses },
  }),
  mkdir: createRoute({
    method: 'post',
    path: `${f}/mkdir`,
    summary: 'Make a directory (with its parents unless parents: false)',
    request: { params: IdParams, body: body(MkdirRequest) },
    responses: { 200: json(Done, 'Made'), ...errorResponses },
  }),
  remove: createRoute({
    method: 'delete',
    path: f,
    summary: 'Remove a file, a symlink or an empty directory; a whole tree with recursive=true',
    request: { params: IdParams, query: RemoveQuery },
    responses: { 200: json(Done, 'Removed'), ...errorResponses },
  }),
  rename: createRoute({
    method: 'post',
    path: `${f}/rename`,
    summary: 'Rename or move a path',
    request: { params: IdParams, body: body(RenameRequest) },
    responses: { 200: json(z.object({ from: z.string(), to: z.string() }), 'Moved'), ...errorResponses },
  }),
  chmod: createRoute({
    method: 'post',
    path: `${f}/chmod`,
    summary: 'Change permission bits',
    request: { params: IdParams, body: body(ChmodRequest) },
    responses: { 200: json(Done, 'Changed'), ...errorResponses },
  }),
  batch: createRoute({
    method: 'post',
    path: `${f}/batch`,
    summary: 'Write several files in one call (each atomically; bounded by the server)',
    request: { params: IdParams, body: body(BatchWriteRequest) },
    responses: { 200: json(BatchWriteResult, 'Written'), ...errorResponses },
  }),
  packTar: createRoute({
    method: 'get',
    path: `${f}/archive`,
    summary: 'A directory as a tar stream',
    request: { params: IdParams, query: ArchiveQuery },
    responses: { 200: { description: 'The tar stream', content: { 'application/x-tar': { schema: binary } } }, ...errorResponses },
  }),
  unpackTar: createRoute({
    method: 'put',
    path: `${f}/archive`,
    summary: 'Unpack a tar stream into a directory (made if missing)',
    request: { params: IdParams, query: ArchiveQuery, body: { content: { 'application/x-tar': { schema: binary } }, required: true } },
    responses: { 200: json(ArchiveResult, 'Unpacked'), ...errorResponses },
  }),
  watch: createRoute({
    method: 'get',
    path: `${f}/watch`,
    'x-airlock-quota': 'execs',
    summary: 'Watch a path: NDJSON events (ready, then create/write/remove/rename_from/rename_to/chmod; overflow when events were lost)',
    request: { params: IdParams, query: WatchQuery },
    responses: { 200: { description: 'One event per line', content: { 'application/x-ndjson': { schema: WatchEventWire } } }, ...errorResponses },
  }),
};

export function fileOpRoutes(app: OpenAPIHono, sandboxes: SandboxService, limits: { maxArchiveEntries: number; maxWriteBytes: number }): void {
  const ops = sandboxes.fileOps;
  app.openapi(routes.stat, async (c) => {
    const { path, user, follow } = c.req.valid('query');
    const s = await ops.stat(c.req.valid('param').id, path, { user, follow: follow !== 'false' });
    return c.json(
      {
        path,
        type: s.kind,
        size: s.size,
        mode: s.mode,
        uid: s.uid,
        gid: s.gid,
        mtime: new Date(s.mtimeMs).toISOString(),
        target: s.kind === 'symlink' ? s.target : null,
      },
      200,
    );
  });
  app.openapi(routes.exists, async (c) => {
    const { path, user } = c.req.valid('query');
    return c.json({ path, exists: await ops.exists(c.req.valid('param').id, path, { user }) }, 200);
  });
  app.openapi(routes.mkdir, async (c) => {
    const r = c.req.valid('json');
    await ops.mkdir(c.req.valid('param').id, r.path, { user: r.user, mode: r.mode === undefined ? undefined : parseInt(r.mode, 8), parents: r.parents });
    return c.json({ path: r.path }, 200);
  });
  app.openapi(routes.remove, async (c) => {
    const { path, user, recursive } = c.req.valid('query');
    await ops.remove(c.req.valid('param').id, path, { user, recursive: recursive === 'true' });
    return c.json({ path }, 200);
  });
  app.openapi(routes.rename, async (c) => {
    const r = c.req.valid('json');
    await ops.rename(c.req.valid('param').id, r.from, r.to, { user: r.user, overwrite: r.overwrite !== false });
    return c.json({ from: r.from, to: r.to }, 200);
  });
  app.openapi(routes.chmod, async (c) => {
    const r = c.req.valid('json');
    await ops.chmod(c.req.valid('param').id, r.path, parseInt(r.mode, 8), { user: r.user });
    return c.json({ path: r.path }, 200);
  });
  app.openapi(routes.batch, async (c) => {
    const r = c.req.valid('json');
    const files = r.files.map((x, i) => {
      if (x.encoding === 'base64' && !/^[A-Za-z0-9+/]*={0,2}$/.test(x.content.replace(/\s+/g, '')))
        throw invalidRequest(`files.${i}.content: not valid base64`);
      return {
        path: x.path,
        data: Buffer.from(x.content, x.encoding === 'base64' ? 'base64' : 'utf8'),
        ...(x.mode !== undefined ? { mode: parseInt(x.mode, 8) } : {}),
      };
    });
    return c.json({ files: await ops.writeMany(c.req.valid('param').id, files, { user: r.user }) }, 200);
  });
  app.openapi(routes.packTar, async (c) => {
    const { path, user } = c.req.valid('query');
    const stream = await packDirectory(ops, c.req.valid('param').id, path, { user, maxEntries: limits.maxArchiveEntries });
    return new Response(stream, { status: 200, headers: { 'content-type': 'application/x-tar' } }) as never;
  });
  app.openapi(routes.unpackTar, async (c) => {
    const { path, user } = c.req.valid('query');
    const raw = (c.req.raw.body ?? new ReadableStream({ start: (ctl) => ctl.close() })) as unknown as AsyncIterable<Uint8Array>;
    const r = await unpackInto(ops, c.req.valid('param').id, path, raw, { user, maxEntries: limits.maxArchiveEntries });
    return c.json({ path, entries: r.entries, bytes: r.bytes }, 200);
  });
  app.openapi(routes.watch, async (c) => {
    const { path, user, recursive } = c.req.valid('query');
    // In place before the answer: a missing path is a 404, and events after "ready" are never missed.
    const events = await ops.watch(c.req.valid('param').id, path, { user, recursive: recursive === 'true' });
    const enc = new TextEncoder();
    const line = (v: WatchEventWire) => enc.encode(`${JSON.stringify(v)}\n`);
    let first = true;
    const stream = new ReadableStream<Uint8Array>(
      {
        async pull(ctl) {
          if (first) {
            first = false;
            return ctl.enqueue(line({ type: 'ready', path: '' }));
          }
          try {
            const { value, done } = await events.next();
            if (done) return ctl.close();
            for (const e of value) ctl.enqueue(line({ type: e.kind, path: e.path, ...(e.cookie ? { cookie: e.cookie } : {}) }));
          } catch (e) {
            const err = e as { code?: string; message: string };
            ctl.enqueue(line({ type: 'error', code: err.code ?? 'file_error', message: err.message }));
            ctl.close();
          }
        },
        async cancel() {
          await events.return(undefined);
        },
      },
      { highWaterMark: 0 },
    );
    return new Response(stream, { status: 200, headers: { 'content-type': 'application/x-ndjson', 'cache-control': 'no-store' } }) as never;
  });
}
