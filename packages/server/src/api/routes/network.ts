/**
 * @module routes/network
 * A sandbox's network: its settings (and the token that opens its exposed ports), a policy update
 * at run time, and the egress audit.
 */
import { createRoute, type OpenAPIHono } from '@hono/zod-openapi';
import { NetworkDetails, NetworkEventList, NetworkEventsQuery, NetworkSettings } from '@airlock/protocol';
import type { SandboxService } from '../../sandbox/service.js';
import { IdParams, errorResponses } from '../schemas.js';

const json = <T>(schema: T) => ({ content: { 'application/json': { schema } } });

const get = createRoute({
  method: 'get',
  path: '/v1/sandboxes/{id}/network',
  // It hands out the ports token, which opens the sandbox's services: not for read-only keys.
  'x-airlock-access': 'write',
  summary: "A sandbox's network settings, address and ports token",
  request: { params: IdParams },
  responses: { 200: { description: 'The network', ...json(NetworkDetails) }, ...errorResponses },
});

const put = createRoute({
  method: 'put',
  path: '/v1/sandboxes/{id}/network',
  summary: 'Replace the egress policy (and bandwidth cap) of a running sandbox; a rejected update leaves the previous one in force',
  request: { params: IdParams, body: { ...json(NetworkSettings), required: true } },
  responses: { 200: { description: 'The network as it is now', ...json(NetworkDetails) }, ...errorResponses },
});

const events = createRoute({
  method: 'get',
  path: '/v1/sandboxes/{id}/network/events',
  summary: 'The egress audit: DNS questions and connections, allowed and denied (the last 1,000)',
  request: { params: IdParams, query: NetworkEventsQuery },
  responses: { 200: { description: 'Events, oldest first', ...json(NetworkEventList) }, ...errorResponses },
});

export function networkRoutes(app: OpenAPIHono, sandboxes: SandboxService): void {
  app.openapi(get, async (c) => c.json(await sandboxes.network(c.req.valid('param').id), 200));
  app.openapi(put, async (c) => c.json(await sandboxes.updateNetwork(c.req.valid('param').id, c.req.valid('json')), 200));
  app.openapi(events, async (c) => c.json(await sandboxes.networkEvents(c.req.valid('param').id, c.req.valid('query').since ?? 0), 200));
}
