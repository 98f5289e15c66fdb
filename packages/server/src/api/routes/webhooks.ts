/**
 * @module routes/webhooks
 * Webhooks of the caller's project: register (the signing secret is answered once), list, delete,
 * and read a webhook's delivery log.
 */
import { createRoute, z, type OpenAPIHono } from '@hono/zod-openapi';
import { Webhook, WebhookCreate, WebhookDeliveryList, WebhookList } from '@airlock/protocol';
import type { Webhooks } from '../../observe/webhooks.js';
import { principalOf, scopeOf } from '../principal.js';
import { errorResponses } from '../schemas.js';

const HookParams = z.object({ id: z.string().min(1).max(64).describe('Webhook id') });

const create = createRoute({
  method: 'post',
  path: '/v1/webhooks',
  summary: "Register a webhook for the project's lifecycle events (HMAC-SHA256 signed POSTs)",
  request: { body: { content: { 'application/json': { schema: WebhookCreate } }, required: true } },
  responses: {
    201: { description: 'The webhook, with its signing secret (shown only now)', content: { 'application/json': { schema: Webhook } } },
    ...errorResponses,
  },
});
const list = createRoute({
  method: 'get',
  path: '/v1/webhooks',
  summary: "The project's webhooks",
  responses: { 200: { description: 'Webhooks (secrets are not shown)', content: { 'application/json': { schema: WebhookList } } }, ...errorResponses },
});
const remove = createRoute({
  method: 'delete',
  path: '/v1/webhooks/{id}',
  summary: 'Delete a webhook (deliveries waiting for it are dropped)',
  request: { params: HookParams },
  responses: { 204: { description: 'Deleted' }, ...errorResponses },
});
const deliveries = createRoute({
  method: 'get',
  path: '/v1/webhooks/{id}/deliveries',
  summary: "A webhook's delivery log, newest first",
  request: { params: HookParams, query: z.object({ limit: z.coerce.number().int().min(1).max(1000).optional() }) },
  responses: {
    200: { description: 'Each attempt: outcome, status, error, time taken', content: { 'application/json': { schema: WebhookDeliveryList } } },
    ...errorResponses,
  },
});

export function webhookRoutes(app: OpenAPIHono, hooks: Webhooks): void {
  app.openapi(create, async (c) => {
    const who = scopeOf(principalOf(c));
    const body = c.req.valid('json');
    return c.json(hooks.create(who.project, body.url, body.types), 201);
  });
  app.openapi(list, async (c) => c.json({ webhooks: hooks.list(scopeOf(principalOf(c)).project) }, 200));
  app.openapi(remove, async (c) => {
    hooks.delete(scopeOf(principalOf(c)).project, c.req.valid('param').id);
    return c.body(null, 204);
  });
  app.openapi(deliveries, async (c) => {
    const who = scopeOf(principalOf(c));
    return c.json({ deliveries: hooks.deliveries(who.project, c.req.valid('param').id, c.req.valid('query').limit ?? 100) }, 200);
  });
}
