/**
 * @module app
 * The HTTP API: a Hono app whose routes are declared with the protocol's zod schemas, which both
 * validate requests and generate the OpenAPI 3.1 document. The only module tree that knows HTTP.
 */
import { OpenAPIHono, createRoute } from '@hono/zod-openapi';
import { HealthBody } from '@airlock/protocol';
import { ErrorCode } from '@airlock/protocol/errors';
import { bodyLimit } from 'hono/body-limit';
import { AirlockError } from '../errors.js';
import type { BuildService } from '../images/build/build-service.js';
import type { ImageService } from '../images/image-service.js';
import type { ImageTransfer } from '../images/image-transfer.js';
import type { Logger } from '../log.js';
import type { RuntimeRegistry } from '../runtimes/registry.js';
import type { SandboxService } from '../sandbox/sandbox-service.js';
import type { Store } from '../store/store.js';
import { requireApiKey } from './auth.js';
import { errorResponse } from './error-response.js';
import { execRoutes } from './routes/exec.js';
import { fileRoutes } from './routes/files.js';
import { imageBuildRoutes } from './routes/image-builds.js';
import { imageRoutes } from './routes/images.js';
import { poolRoutes } from './routes/pools.js';
import { sandboxRoutes } from './routes/sandboxes.js';

export interface AppDeps {
  sandboxes: SandboxService;
  images: ImageService;
  builds: BuildService;
  transfer: ImageTransfer;
  maxContextBytes: number;
  /** Private directory where image imports are unpacked before their blobs are checked. */
  importScratchDir: string;
  runtimes: RuntimeRegistry;
  store: Store;
  log: Logger;
  version: string;
  maxJsonBytes: number;
}

export function createApp(deps: AppDeps): OpenAPIHono {
  const app = new OpenAPIHono({
    defaultHook: (result) => {
      if (!result.success) {
        const issues = result.error.issues.map((i) => ({ path: i.path.join('.') || '(body)', message: i.message }));
        throw new AirlockError(ErrorCode.InvalidRequest, issues.map((i) => `${i.path}: ${i.message}`).join('; '), { issues });
      }
    },
  });
  app.onError((err, c) => errorResponse(c, err, deps.log));
  app.notFound((c) => errorResponse(c, new AirlockError(ErrorCode.NotFound, `no route for ${c.req.method} ${c.req.path}`), deps.log));
  app.use('/v1/*', requireApiKey(deps.store));
  app.use('/v1/*', async (c, next) => {
    // JSON bodies are small; file uploads stream and are limited in their route.
    if (c.req.header('content-type')?.startsWith('application/json')) {
      return bodyLimit({
        maxSize: deps.maxJsonBytes,
        onError: () => {
          throw new AirlockError(ErrorCode.PayloadTooLarge, `JSON bodies are limited to ${deps.maxJsonBytes} bytes`);
        },
      })(c, next);
    }
    return next();
  });

  app.openapi(
    createRoute({
      method: 'get',
      path: '/v1/health',
      summary: 'Liveness and the runtimes this host offers (no auth)',
      responses: { 200: { description: 'The server answers', content: { 'application/json': { schema: HealthBody } } } },
    }),
    (c) =>
      c.json(
        {
          status: 'ok' as const,
          version: deps.version,
          runtimes: deps.runtimes.all().map((r) => {
            const a = deps.runtimes.availability(r.name);
            return a.available ? { name: r.name, available: true } : { name: r.name, available: false, reason: a.reason };
          }),
        },
        200,
      ),
  );

  sandboxRoutes(app, deps.sandboxes);
  execRoutes(app, deps.sandboxes);
  fileRoutes(app, deps.sandboxes);
  // Before the generic /v1/images/{image} routes, so that /v1/images/build is not taken for an image name.
  imageBuildRoutes(app, { builds: deps.builds, images: deps.images, transfer: deps.transfer, maxContextBytes: deps.maxContextBytes, log: deps.log });
  imageRoutes(app, deps.images, deps.importScratchDir);
  poolRoutes(app, deps.sandboxes);

  app.openAPIRegistry.registerComponent('securitySchemes', 'bearer', { type: 'http', scheme: 'bearer' });
  app.doc31('/v1/openapi.json', {
    openapi: '3.1.0',
    info: { title: 'Airlock', version: deps.version, description: 'Self-hosted sandboxes for untrusted code' },
    security: [{ bearer: [] }],
  });
  return app;
}
