/**
 * @module app
 * The HTTP API: a Hono app whose routes are declared with the protocol's zod schemas, which both
 * validate requests and generate the OpenAPI 3.1 document. The only module tree that knows HTTP.
 *
 * Every request body is bounded: uploads and imports by their own streaming limits, every other
 * body (whatever its Content-Type says) by `maxBodyBytes`. A JSON route refuses other content types
 * with 415, and a known path with the wrong method answers 405.
 *
 * Every /v1 route but health and the document needs a key (api/auth.ts), then passes the tenancy
 * guard (api/tenancy-guard.ts): role, rate, project scope, in-flight quotas, audit.
 */
import { OpenAPIHono, createRoute } from '@hono/zod-openapi';
import { HealthBody } from '@airlock/protocol';
import { ErrorCode } from '@airlock/protocol/errors';
import { bodyLimit } from 'hono/body-limit';
import { AirlockError } from '../errors.js';
import type { BuildService } from '../images/build/build-service.js';
import type { ContentStore } from '../images/content-store.js';
import type { ImageService } from '../images/image-service.js';
import type { ImageTransfer } from '../images/image-transfer.js';
import type { Logger } from '../log.js';
import type { RuntimeRegistry } from '../runtimes/registry.js';
import type { SandboxService } from '../sandbox/service.js';
import type { Principals } from '../auth/principals.js';
import type { AuditLog } from '../tenancy/audit-log.js';
import type { ImageScope } from '../tenancy/image-scope.js';
import type { Projects } from '../tenancy/projects.js';
import type { ProjectQuotas } from '../tenancy/quotas.js';
import type { KeyRateLimiter } from '../tenancy/rate-limit.js';
import { requireApiKey } from './auth.js';
import { tenancyGuard } from './tenancy-guard.js';
import { auditRoutes } from './routes/audit.js';
import { keyRoutes } from './routes/keys.js';
import { projectRoutes } from './routes/projects.js';
import { drainRefusedBody } from './drain.js';
import { errorResponse } from './error-response.js';
import { acceptsBody, routeTable, streamsBody, type RouteEntry } from './route-table.js';
import { codeRoutes } from './routes/code.js';
import { execRoutes } from './routes/exec.js';
import { fileRoutes } from './routes/files.js';
import { imageBuildRoutes } from './routes/image-builds.js';
import { imageRoutes } from './routes/images.js';
import { networkRoutes } from './routes/network.js';
import { poolRoutes } from './routes/pools.js';
import { fileOpRoutes } from './routes/file-ops.js';
import { processRoutes } from './routes/processes.js';
import type { Tickets } from './tickets.js';
import type { Observability } from '../observe/observability.js';
import type { SandboxStatsReader } from '../observe/stats.js';
import { requestLog } from './request-log.js';
import { eventRoutes } from './routes/events.js';
import { metricsRoutes } from './routes/metrics.js';
import { statsRoutes } from './routes/stats.js';
import { webhookRoutes } from './routes/webhooks.js';
import { loadDashboard, uiRoutes } from './routes/ui.js';
import { sandboxRoutes } from './routes/sandboxes.js';

export interface AppDeps {
  sandboxes: SandboxService;
  images: ImageService;
  builds: BuildService;
  transfer: ImageTransfer;
  maxContextBytes: number;
  content: ContentStore;
  runtimes: RuntimeRegistry;
  principals: Principals;
  projects: Projects;
  imageScope: ImageScope;
  quotas: ProjectQuotas;
  rate: KeyRateLimiter;
  audit: AuditLog;
  log: Logger;
  version: string;
  limits: { maxBodyBytes: number; maxWriteBytes: number; maxImportBytes: number; maxArchiveEntries: number };
  /** WebSocket attach tickets (issued here, redeemed by api/ws.ts). */
  tickets: Tickets;
  /** Metrics, events, webhooks, stats and request logs (observe/). */
  observe: { obs: Observability; stats: SandboxStatsReader; enabled: boolean };
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
  // Filled once every route is declared (below); the middleware reads it per request.
  let routes: RouteEntry[] = [];
  const limitJson = bodyLimit({
    maxSize: deps.limits.maxBodyBytes,
    onError: () => {
      throw new AirlockError(ErrorCode.PayloadTooLarge, `request bodies are limited to ${deps.limits.maxBodyBytes} bytes`);
    },
  });

  app.onError(async (err, c) => {
    await drainRefusedBody(c);
    return errorResponse(c, err, deps.log);
  });
  app.notFound((c) => {
    const others = routes.filter((r) => r.matches(c.req.path)).map((r) => r.method);
    if (others.length > 0) {
      c.header('allow', others.join(', '));
      return errorResponse(
        c,
        new AirlockError(ErrorCode.MethodNotAllowed, `${c.req.path} does not take ${c.req.method}; it takes ${others.join(', ')}`),
        deps.log,
      );
    }
    return errorResponse(c, new AirlockError(ErrorCode.NotFound, `no route for ${c.req.method} ${c.req.path}`), deps.log);
  });
  if (deps.observe.enabled) app.use('*', requestLog(deps.log, deps.observe.obs.metrics));
  app.use('/v1/*', requireApiKey(deps.principals));
  app.use('/v1/*', async (c, next) => {
    const route = routes.find((r) => r.method === c.req.method && r.matches(c.req.path));
    if (route && !acceptsBody(route, c.req.header('content-type'))) {
      throw new AirlockError(ErrorCode.UnsupportedMediaType, `${c.req.method} ${route.path} takes a JSON body: send it with Content-Type: application/json`);
    }
    if (route && streamsBody(route)) return next();
    return limitJson(c, next);
  });
  app.use('/v1/*', tenancyGuard({ sandboxes: deps.sandboxes, quotas: deps.quotas, rate: deps.rate, audit: deps.audit, routes: () => routes }));

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
            return a.available
              ? { name: r.name, available: true, ...(a.accel ? { accel: a.accel.name, accelReason: a.accel.reason } : {}) }
              : { name: r.name, available: false, reason: a.reason };
          }),
        },
        200,
      ),
  );

  sandboxRoutes(app, deps.sandboxes, deps.imageScope);
  execRoutes(app, deps.sandboxes);
  fileRoutes(app, deps.sandboxes, deps.limits);
  // Before the generic /v1/images/{image} routes, so that /v1/images/build is not taken for an image name.
  imageBuildRoutes(app, {
    builds: deps.builds,
    images: deps.images,
    transfer: deps.transfer,
    maxContextBytes: deps.maxContextBytes,
    log: deps.log,
    scope: deps.imageScope,
    projects: deps.projects,
  });
  imageRoutes(app, deps.images, { content: deps.content, maxImportBytes: deps.limits.maxImportBytes, scope: deps.imageScope, projects: deps.projects });
  poolRoutes(app, deps.sandboxes);
  networkRoutes(app, deps.sandboxes);
  processRoutes(app, deps.sandboxes, deps.tickets);
  metricsRoutes(app, deps.observe.obs.metrics, deps.principals);
  statsRoutes(app, deps.observe.stats, deps.observe.obs.streamsEnd);
  eventRoutes(app, deps.observe.obs.events, deps.observe.obs.streamsEnd);
  webhookRoutes(app, deps.observe.obs.webhooks);
  uiRoutes(app, loadDashboard());
  codeRoutes(app, deps.sandboxes);
  fileOpRoutes(app, deps.sandboxes, { maxArchiveEntries: deps.limits.maxArchiveEntries, maxWriteBytes: deps.limits.maxWriteBytes });
  projectRoutes(app, deps.projects);
  keyRoutes(app, deps.projects);
  auditRoutes(app, deps.audit);

  app.openAPIRegistry.registerComponent('securitySchemes', 'bearer', { type: 'http', scheme: 'bearer' });
  app.doc31('/v1/openapi.json', {
    openapi: '3.1.0',
    info: { title: 'Airlock', version: deps.version, description: 'Self-hosted sandboxes for untrusted code' },
    security: [{ bearer: [] }],
  });
  routes = routeTable(app);
  return app;
}
