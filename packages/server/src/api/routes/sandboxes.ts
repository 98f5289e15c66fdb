/**
 * @module routes/sandboxes
 * Create, get, list and delete sandboxes.
 */
import { createRoute, type OpenAPIHono } from '@hono/zod-openapi';
import { CreateSandboxRequest, ListSandboxesQuery, Sandbox, SandboxList } from '@airlock/protocol';
import { invalidRequest } from '../../errors.js';
import type { SandboxService } from '../../sandbox/service.js';
import type { ImageScope } from '../../tenancy/image-scope.js';
import { principalOf } from '../principal.js';
import { sandboxToWire } from '../wire.js';
import { IdParams, errorResponses } from '../schemas.js';

const json = <T>(schema: T) => ({ content: { 'application/json': { schema } } });

const create = createRoute({
  method: 'post',
  path: '/v1/sandboxes',
  summary: 'Create a sandbox',
  request: { body: { ...json(CreateSandboxRequest), required: true } },
  responses: { 201: { description: 'The sandbox runs and its agent answers', ...json(Sandbox) }, ...errorResponses },
});

const list = createRoute({
  method: 'get',
  path: '/v1/sandboxes',
  summary: 'List sandboxes',
  request: { query: ListSandboxesQuery },
  responses: { 200: { description: 'Sandboxes, oldest first', ...json(SandboxList) }, ...errorResponses },
});

const get = createRoute({
  method: 'get',
  path: '/v1/sandboxes/{id}',
  summary: 'Get a sandbox',
  request: { params: IdParams },
  responses: { 200: { description: 'The sandbox', ...json(Sandbox) }, ...errorResponses },
});

const destroy = createRoute({
  method: 'delete',
  path: '/v1/sandboxes/{id}',
  summary: 'Destroy a sandbox and release everything it held',
  request: { params: IdParams },
  responses: { 200: { description: 'The destroyed sandbox', ...json(Sandbox) }, ...errorResponses },
});

export function sandboxRoutes(app: OpenAPIHono, sandboxes: SandboxService, images: ImageScope): void {
  app.openapi(create, async (c) => {
    const req = c.req.valid('json');
    const p = principalOf(c);
    // Every sandbox is its creator's project's; an image is usable only if the project references it.
    await images.checkUse({ project: p.project, admin: false }, req.image);
    const created = await sandboxes.create({ ...req, project: p.project });
    // An image the create pulled (it was not local) is now the project's too.
    if (created.imageId && req.image !== undefined) await images.grant(p.project, created.imageId);
    return c.json(sandboxToWire(created), 201);
  });
  app.openapi(list, async (c) => {
    const q = c.req.valid('query');
    const labels: Record<string, string> = {};
    for (const l of q.label === undefined ? [] : Array.isArray(q.label) ? q.label : [q.label]) {
      const eq = l.indexOf('=');
      if (eq <= 0) throw invalidRequest(`label filter ${JSON.stringify(l)} must look like key=value`);
      labels[l.slice(0, eq)] = l.slice(eq + 1);
    }
    const found = await sandboxes.list({ ...(q.state ? { states: [q.state] } : {}), labels, project: principalOf(c).project });
    return c.json({ sandboxes: found.map(sandboxToWire) }, 200);
  });
  app.openapi(get, async (c) => c.json(sandboxToWire(await sandboxes.get(c.req.valid('param').id)), 200));
  app.openapi(destroy, async (c) => c.json(sandboxToWire(await sandboxes.destroy(c.req.valid('param').id)), 200));
}
