/**
 * @module routes/image-builds
 * Building images (the context tar is the body; NDJSON progress and step output come back),
 * cancelling a build, pushing an image to a registry (NDJSON progress) and saving one as an OCI
 * layout tar.
 */
import { createRoute, type OpenAPIHono } from '@hono/zod-openapi';
import { BuildEvent, BuildImageQuery, CancelBuildResult, PushEvent, PushImageRequest } from '@airlock/protocol';
import { ErrorCode } from '@airlock/protocol/errors';
import { Readable } from 'node:stream';
import { z } from 'zod';
import { AirlockError } from '../../errors.js';
import type { BuildService } from '../../images/build/build-service.js';
import type { ImageService } from '../../images/image-service.js';
import type { ImageTransfer } from '../../images/image-transfer.js';
import type { Logger } from '../../log.js';
import type { ImageScope } from '../../tenancy/image-scope.js';
import type { Projects } from '../../tenancy/projects.js';
import { ndjsonResponse } from '../ndjson.js';
import { actorOf } from './images.js';
import { errorResponses } from '../schemas.js';
import { imageToWire } from '../wire.js';

const tooLarge = { 413: { description: 'The build context is over the limit', content: errorResponses[400].content } } as const;
const capacity = { 429: { description: 'Too many builds at once', content: errorResponses[400].content } } as const;

const build = createRoute({
  method: 'post',
  path: '/v1/images/build',
  'x-airlock-quota': 'pulls',
  summary: 'Build an image from a Dockerfile; the body is the build context as a tar',
  request: { query: BuildImageQuery, body: { content: { 'application/x-tar': { schema: z.string().meta({ format: 'binary' }) } }, required: true } },
  responses: {
    200: {
      description: 'A build event, steps with output and layers, then one image or error event',
      content: { 'application/x-ndjson': { schema: BuildEvent } },
    },
    ...errorResponses,
    ...tooLarge,
    ...capacity,
  },
});

const cancel = createRoute({
  method: 'delete',
  path: '/v1/images/builds/{id}',
  summary: 'Cancel a running build (it leaves no image and no sandbox)',
  request: { params: z.object({ id: z.string().min(1).max(64) }) },
  responses: { 200: { description: 'Cancelled', content: { 'application/json': { schema: CancelBuildResult } } }, ...errorResponses },
});

const push = createRoute({
  method: 'post',
  path: '/v1/images/push',
  summary: 'Push a local image to a registry, streaming progress as NDJSON',
  request: { body: { content: { 'application/json': { schema: PushImageRequest } }, required: true } },
  responses: {
    200: { description: 'Blob events, then one pushed or error event', content: { 'application/x-ndjson': { schema: PushEvent } } },
    ...errorResponses,
  },
});

const save = createRoute({
  method: 'get',
  path: '/v1/images/{image}/save',
  summary: 'Download a local image as an OCI image layout (tar)',
  request: { params: z.object({ image: z.string().min(1).max(600) }) },
  responses: {
    200: { description: 'An OCI image layout', content: { 'application/x-tar': { schema: z.string().meta({ format: 'binary' }) } } },
    ...errorResponses,
  },
});

const many = (v: string | string[] | undefined) => (v === undefined ? [] : Array.isArray(v) ? v : [v]);

export function imageBuildRoutes(
  app: OpenAPIHono,
  deps: { builds: BuildService; images: ImageService; transfer: ImageTransfer; maxContextBytes: number; log: Logger; scope: ImageScope; projects: Projects },
): void {
  // Which project runs each build, so that only it can cancel it (bounded by the builds running).
  const owners = new Map<string, string>();
  const errorEvent = (e: unknown, fallback: string) => {
    if (!(e instanceof AirlockError)) deps.log.error({ err: e }, fallback);
    return toErrorEvent(e, fallback);
  };
  app.openapi(build, async (c) => {
    const q = c.req.valid('query');
    const length = Number(c.req.header('content-length') ?? '0');
    if (length > deps.maxContextBytes)
      throw new AirlockError(
        ErrorCode.PayloadTooLarge,
        `the build context is ${length} bytes, over the ${deps.maxContextBytes}-byte limit; exclude what the build does not need in .dockerignore`,
      );
    if (!c.req.raw.body) throw new AirlockError(ErrorCode.InvalidRequest, 'the body must be the build context as a tar archive');
    const actor = actorOf(c);
    await deps.projects.checkImageBytes(actor.project);
    const buildArgs: Record<string, string> = {};
    for (const kv of many(q.buildArg)) {
      const eq = kv.indexOf('=');
      if (eq <= 0) throw new AirlockError(ErrorCode.InvalidRequest, `buildArg ${JSON.stringify(kv)} must be KEY=VALUE`);
      buildArgs[kv.slice(0, eq)] = kv.slice(eq + 1);
    }
    const prepared = await deps.builds.prepare(Readable.fromWeb(c.req.raw.body as import('node:stream/web').ReadableStream<Uint8Array>), {
      dockerfile: q.dockerfile ?? 'Dockerfile',
      tags: many(q.tag),
      buildArgs,
      target: q.target,
      runtime: q.runtime,
      allow: many(q.allow),
      compression: q.compression ?? 'gzip',
      noCache: q.noCache === 'true' || q.noCache === '1',
      timeoutSeconds: q.timeout,
      // Its steps run in sandboxes of its project, from images its project references.
      project: actor.project,
      canUse: (id: string) => deps.scope.visible({ project: actor.project, admin: false }, id),
    });
    return ndjsonResponse<BuildEvent>(async (send, signal) => {
      owners.set(prepared.id, actor.project);
      await send({ type: 'build', id: prepared.id });
      try {
        const image = await prepared.run((e) => send(e), signal);
        await send({ type: 'image', image: imageToWire(await deps.scope.inspect(actor, image.id)) });
      } catch (e) {
        await send(errorEvent(e, 'the build failed; see the server log'));
      } finally {
        owners.delete(prepared.id);
      }
    }) as never;
  });

  app.openapi(cancel, (c) => {
    const { id } = c.req.valid('param');
    const owner = owners.get(id);
    const a = actorOf(c);
    if (owner === undefined || (!a.admin && owner !== a.project) || !deps.builds.cancel(id))
      throw new AirlockError(ErrorCode.NotFound, `build ${id} is not running`);
    return c.json({ id, cancelled: true as const }, 200);
  });

  app.openapi(push, async (c) => {
    const { image, reference } = c.req.valid('json');
    // A missing image is a 422 before the stream starts; the project's own references are what it pushes.
    const found = await deps.scope.inspect(actorOf(c), image);
    return ndjsonResponse<PushEvent>(async (send) => {
      try {
        const sent: Promise<void>[] = [];
        const pushed = await deps.transfer.push(found, reference, (digest, size, action) => sent.push(send({ type: 'blob', digest, size, action })));
        await Promise.all(sent);
        await send({ type: 'pushed', ...pushed });
      } catch (e) {
        await send(errorEvent(e, 'the push failed; see the server log'));
      }
    }) as never;
  });

  app.openapi(save, async (c) => {
    const stream = await deps.transfer.save(await deps.scope.inspect(actorOf(c), c.req.valid('param').image));
    return new Response(Readable.toWeb(stream) as unknown as ReadableStream, { status: 200, headers: { 'content-type': 'application/x-tar' } }) as never;
  });
}

function toErrorEvent(e: unknown, fallback: string): { type: 'error'; code: string; message: string } {
  const known = e instanceof AirlockError;
  return { type: 'error', code: known ? e.code : ErrorCode.Internal, message: known ? e.message : fallback };
}
