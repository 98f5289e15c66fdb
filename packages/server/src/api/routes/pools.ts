/**
 * @module routes/pools
 * The warm pools: sizes, hits and misses, refill cost.
 */
import { createRoute, type OpenAPIHono } from '@hono/zod-openapi';
import { PoolList } from '@airlock/protocol';
import type { SandboxService } from '../../sandbox/service.js';
import { errorResponses } from '../schemas.js';

const list = createRoute({
  method: 'get',
  path: '/v1/pools',
  summary: 'Warm pools: configured size, sandboxes ready, hits, misses and refill time per shape',
  responses: { 200: { description: 'One entry per configured shape', content: { 'application/json': { schema: PoolList } } }, ...errorResponses },
});

export function poolRoutes(app: OpenAPIHono, sandboxes: SandboxService): void {
  app.openapi(list, (c) => c.json(sandboxes.pools(), 200));
}
