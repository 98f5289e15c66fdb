/**
 * @module routes/code
 * The code interpreter over HTTP: run a cell (buffered as an Execution, or NDJSON events when the
 * client accepts application/x-ndjson), and contexts (create, list, get, delete, interrupt,
 * restart). A cell is checked (413, 404, 400, 409) before anything is streamed; a client that goes
 * away interrupts its cell (the context keeps its state).
 */
import { createRoute, type OpenAPIHono } from '@hono/zod-openapi';
import { CodeContextInfo, CodeContextList, CodeEvent, CreateContextRequest, Execution, RunCodeRequest, type CodeResult } from '@airlock/protocol';
import { z } from 'zod';
import type { SandboxService } from '../../sandbox/service.js';
import { ndjsonResponse } from '../ndjson.js';
import { IdParams, errorResponses } from '../schemas.js';

const json = <T extends z.ZodType>(schema: T, description: string) => ({ description, content: { 'application/json': { schema } } });
const base = '/v1/sandboxes/{id}/code';
const ContextParams = z.object({ id: z.string().min(1).max(128).describe('Sandbox id'), cid: z.string().min(1).max(64).describe('Code context id') });
const tooLarge = { 413: json(z.object({ code: z.string(), message: z.string() }), 'The cell is over the size limit') };

const routes = {
  run: createRoute({
    method: 'post',
    path: `${base}/run`,
    // A running cell counts against the project's in-flight execs, as an exec does.
    'x-airlock-quota': 'execs',
    summary: 'Run a cell in a code context (NDJSON events with Accept: application/x-ndjson, else the Execution)',
    request: { params: IdParams, body: { content: { 'application/json': { schema: RunCodeRequest } }, required: true } },
    responses: {
      200: {
        description: 'The Execution, or one CodeEvent per line (start, stdout, stderr, result, error, end)',
        content: { 'application/json': { schema: Execution }, 'application/x-ndjson': { schema: CodeEvent } },
      },
      ...tooLarge,
      ...errorResponses,
    },
  }),
  create: createRoute({
    method: 'post',
    path: `${base}/contexts`,
    summary: 'Create a code context (its interpreter is running when this answers)',
    request: { params: IdParams, body: { content: { 'application/json': { schema: CreateContextRequest } }, required: true } },
    responses: { 201: json(CodeContextInfo, 'Created'), ...errorResponses },
  }),
  list: createRoute({
    method: 'get',
    path: `${base}/contexts`,
    summary: "The sandbox's code contexts",
    request: { params: IdParams },
    responses: { 200: json(CodeContextList, 'Contexts, oldest first'), ...errorResponses },
  }),
  get: createRoute({
    method: 'get',
    path: `${base}/contexts/{cid}`,
    summary: 'One code context',
    request: { params: ContextParams },
    responses: { 200: json(CodeContextInfo, 'The context'), ...errorResponses },
  }),
  delete: createRoute({
    method: 'delete',
    path: `${base}/contexts/{cid}`,
    summary: 'Delete a code context (its interpreter is killed)',
    request: { params: ContextParams },
    responses: { 200: json(z.object({ id: z.string(), deleted: z.literal(true) }), 'Deleted'), ...errorResponses },
  }),
  interrupt: createRoute({
    method: 'post',
    path: `${base}/contexts/{cid}/interrupt`,
    summary: 'Interrupt the running cell (SIGINT: a KeyboardInterrupt in Python; state is kept)',
    request: { params: ContextParams },
    responses: { 200: json(CodeContextInfo, 'Interrupted'), ...errorResponses },
  }),
  restart: createRoute({
    method: 'post',
    path: `${base}/contexts/{cid}/restart`,
    summary: 'Restart the interpreter with fresh state (a running cell ends with an error)',
    request: { params: ContextParams },
    responses: { 200: json(CodeContextInfo, 'Restarted'), ...errorResponses },
  }),
};

export function codeRoutes(app: OpenAPIHono, sandboxes: SandboxService): void {
  const svc = sandboxes.interpreter;

  app.openapi(routes.run, async (c) => {
    const prepared = await svc.prepare(c.req.valid('param').id, c.req.valid('json'));
    const ctx = prepared.context;
    const startedAt = performance.now();
    const elapsed = () => Math.round((performance.now() - startedAt) * 1000) / 1000;
    if ((c.req.header('accept') ?? '').includes('application/x-ndjson')) {
      return ndjsonResponse<CodeEvent>(async (send, signal) => {
        try {
          const o = await prepared.run(
            {
              stdout: (text) => send({ type: 'stdout', text }),
              stderr: (text) => send({ type: 'stderr', text }),
              result: (r) => send({ type: 'result', ...r }),
            },
            signal,
            () => send({ type: 'start', context: ctx.id, language: ctx.spec.language }),
          );
          if (o.error) await send({ type: 'error', ...o.error });
          await send({
            type: 'end',
            executionCount: o.executionCount,
            durationMs: elapsed(),
            stdoutTruncated: o.stdoutTruncated,
            stderrTruncated: o.stderrTruncated,
            resultsDropped: o.resultsDropped,
          });
        } catch (e) {
          // After the answer began, a failure (the interpreter would not start) is the stream's last events.
          await send({ type: 'error', name: 'ContextError', value: (e as Error).message, traceback: '' });
          await send({ type: 'end', executionCount: null, durationMs: elapsed(), stdoutTruncated: false, stderrTruncated: false, resultsDropped: 0 });
        }
      }) as never;
    }
    const results: CodeResult[] = [];
    const logs = { stdout: [] as string[], stderr: [] as string[] };
    const o = await prepared.run(
      {
        stdout: async (t) => void logs.stdout.push(t),
        stderr: async (t) => void logs.stderr.push(t),
        result: async (r) => void results.push(r),
      },
      c.req.raw.signal,
      async () => {},
    );
    return c.json(
      {
        results,
        logs,
        error: o.error,
        executionCount: o.executionCount,
        context: ctx.id,
        durationMs: elapsed(),
        stdoutTruncated: o.stdoutTruncated,
        stderrTruncated: o.stderrTruncated,
        resultsDropped: o.resultsDropped,
      },
      200,
    );
  });

  app.openapi(routes.create, async (c) => c.json((await svc.create(c.req.valid('param').id, c.req.valid('json'))).info(), 201));
  app.openapi(routes.list, async (c) => c.json({ contexts: (await svc.list(c.req.valid('param').id)).map((x) => x.info()) }, 200));
  app.openapi(routes.get, async (c) => {
    const p = c.req.valid('param');
    return c.json((await svc.get(p.id, p.cid)).info(), 200);
  });
  app.openapi(routes.delete, async (c) => {
    const p = c.req.valid('param');
    await svc.delete(p.id, p.cid);
    return c.json({ id: p.cid, deleted: true as const }, 200);
  });
  app.openapi(routes.interrupt, async (c) => {
    const p = c.req.valid('param');
    return c.json((await svc.interrupt(p.id, p.cid)).info(), 200);
  });
  app.openapi(routes.restart, async (c) => {
    const p = c.req.valid('param');
    return c.json((await svc.restart(p.id, p.cid)).info(), 200);
  });
}
