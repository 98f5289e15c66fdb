/**
 * @module routes/images
 * Local images: pull (an NDJSON progress stream), import (a tar body), list, inspect, remove, prune.
 * An image in a path is its id (sha256:…) or a reference, URL-encoded (python%3A3.12-slim).
 */
import { createRoute, type OpenAPIHono } from '@hono/zod-openapi';
import { Image, ImageList, ImportResult, ProjectName, PruneResult, PullEvent, PullImageRequest } from '@airlock/protocol';
import { ErrorCode } from '@airlock/protocol/errors';
import { Readable } from 'node:stream';
import { z } from 'zod';
import { AirlockError } from '../../errors.js';
import type { ContentStore } from '../../images/content-store.js';
import type { ImageService } from '../../images/image-service.js';
import { importImages } from '../../images/image-import.js';
import { parseReference } from '../../images/reference.js';
import type { ImageActor, ImageScope } from '../../tenancy/image-scope.js';
import type { Projects } from '../../tenancy/projects.js';
import { listedProject, principalOf } from '../principal.js';
import { errorResponses } from '../schemas.js';
import { imageToWire } from '../wire.js';

const ImageParams = z.object({ image: z.string().min(1).max(600).describe('Image id (sha256:…) or reference, URL-encoded') });
const ImportQuery = z.object({ tag: z.string().min(1).max(512).optional().describe('Reference to give the imported image') });

const imageResponses = {
  ...errorResponses,
  403: { description: 'The registry refused the configured credentials', content: errorResponses[400].content },
  502: { description: 'The registry is unreachable or failing', content: errorResponses[400].content },
  507: { description: 'The image store is full', content: errorResponses[400].content },
} as const;

const pull = createRoute({
  method: 'post',
  path: '/v1/images/pull',
  'x-airlock-quota': 'pulls',
  summary: 'Pull an image from a registry, streaming progress as NDJSON',
  request: { body: { content: { 'application/json': { schema: PullImageRequest } }, required: true } },
  responses: {
    200: { description: 'Progress events, then one image or error event', content: { 'application/x-ndjson': { schema: PullEvent } } },
    ...imageResponses,
  },
});

const importRoute = createRoute({
  method: 'post',
  path: '/v1/images/import',
  'x-airlock-quota': 'pulls',
  summary: 'Import images from an OCI image layout or a docker save archive (tar body)',
  request: { query: ImportQuery, body: { content: { 'application/x-tar': { schema: z.string().meta({ format: 'binary' }) } }, required: true } },
  responses: { 200: { description: 'The imported images', content: { 'application/json': { schema: ImportResult } } }, ...imageResponses },
});

const list = createRoute({
  method: 'get',
  path: '/v1/images',
  summary: "List the project's images (an admin key may name another project)",
  request: { query: z.object({ project: ProjectName.optional().describe("Admin keys only: another project's images") }) },
  responses: { 200: { description: 'Local images', content: { 'application/json': { schema: ImageList } } }, ...errorResponses },
});

const inspect = createRoute({
  method: 'get',
  path: '/v1/images/{image}',
  summary: 'Inspect a local image',
  request: { params: ImageParams },
  responses: { 200: { description: 'The image', content: { 'application/json': { schema: Image } } }, ...errorResponses },
});

const remove = createRoute({
  method: 'delete',
  path: '/v1/images/{image}',
  summary: 'Remove a local image (refused while a sandbox uses it)',
  request: { params: ImageParams },
  responses: { 200: { description: 'The removed image', content: { 'application/json': { schema: Image } } }, ...errorResponses },
});

const prune = createRoute({
  method: 'post',
  path: '/v1/images/prune',
  // Every project's images: only an admin may.
  'x-airlock-access': 'admin',
  summary: 'Remove every image no sandbox uses, and unreferenced blobs and layers (admin)',
  responses: { 200: { description: 'What was removed', content: { 'application/json': { schema: PruneResult } } }, ...errorResponses },
});

/** Who acts, for the image scope (tenancy/image-scope.ts). */
export function actorOf(c: import('hono').Context): ImageActor {
  const p = principalOf(c);
  return { project: p.project, admin: p.role === 'admin' };
}

export function imageRoutes(
  app: OpenAPIHono,
  images: ImageService,
  deps: { content: ContentStore; maxImportBytes: number; scope: ImageScope; projects: Projects },
): void {
  app.openapi(pull, async (c) => {
    const { reference } = c.req.valid('json');
    const actor = actorOf(c);
    await deps.projects.checkImageBytes(actor.project);
    try {
      parseReference(reference);
    } catch (e) {
      throw new AirlockError(ErrorCode.InvalidRequest, (e as Error).message);
    }
    const encoder = new TextEncoder();
    const body = new ReadableStream<Uint8Array>({
      start(controller) {
        const send = (ev: PullEvent) => {
          try {
            controller.enqueue(encoder.encode(`${JSON.stringify(ev)}\n`));
          } catch {
            // the client went away; the pull goes on for whoever else waits for it
          }
        };
        // The reference becomes the project's own (references are per project); the image is shared.
        images
          .pull(actor.project, reference, (p) => send({ type: 'progress', ...p }))
          .then(async (image) => send({ type: 'image', image: imageToWire(await deps.scope.inspect(actor, image.id)) }))
          .catch((e: unknown) => {
            const known = e instanceof AirlockError;
            send({ type: 'error', code: known ? e.code : ErrorCode.Internal, message: known ? e.message : 'the pull failed; see the server log' });
          })
          .finally(() => {
            try {
              controller.close();
            } catch {
              // already closed by a cancel
            }
          });
      },
    });
    return new Response(body, { status: 200, headers: { 'content-type': 'application/x-ndjson', 'cache-control': 'no-store' } }) as never;
  });

  app.openapi(importRoute, async (c) => {
    if (!c.req.raw.body) throw new AirlockError(ErrorCode.InvalidRequest, 'the body must be a tar archive');
    const actor = actorOf(c);
    await deps.projects.checkImageBytes(actor.project);
    const declared = Number(c.req.header('content-length') ?? 'NaN');
    if (declared > deps.maxImportBytes)
      throw new AirlockError(ErrorCode.PayloadTooLarge, `image archives are limited to ${deps.maxImportBytes} bytes on this server`);
    const archive = Readable.fromWeb(c.req.raw.body as import('node:stream/web').ReadableStream<Uint8Array>);
    const imported = await importImages(
      { content: deps.content, installer: images.installer, gc: images.gc, leases: images.leases },
      archive,
      actor.project,
      c.req.valid('query').tag,
      deps.maxImportBytes,
    );
    return c.json({ images: await Promise.all(imported.map(async (i) => imageToWire(await deps.scope.inspect(actor, i.id)))) }, 200);
  });

  app.openapi(list, async (c) => {
    const project = listedProject(principalOf(c), c.req.valid('query').project);
    return c.json({ images: (await deps.scope.list({ project, admin: false })).map(imageToWire) }, 200);
  });

  app.openapi(inspect, async (c) => c.json(imageToWire(await deps.scope.inspect(actorOf(c), c.req.valid('param').image)), 200));

  app.openapi(remove, async (c) => {
    const removed = await deps.scope.remove(actorOf(c), c.req.valid('param').image);
    return c.json(imageToWire({ ...removed, inUse: false }), 200);
  });

  app.openapi(prune, async (c) => c.json(await images.prune(), 200));
}
