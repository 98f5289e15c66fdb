/**
 * @module routes/audit
 * The audit log of a project, newest first: a key reads its own project's, an admin key any. There
 * is no route that changes or removes an event.
 */
import { createRoute, type OpenAPIHono } from '@hono/zod-openapi';
import { AuditList, AuditQuery } from '@airlock/protocol';
import { notFound } from '../../errors.js';
import type { AuditLog } from '../../tenancy/audit-log.js';
import { principalOf, sees } from '../principal.js';
import { errorResponses } from '../schemas.js';

const list = createRoute({
  method: 'get',
  path: '/v1/audit',
  summary: "The project's audit log, newest first (page back with before=<seq>)",
  request: { query: AuditQuery },
  responses: { 200: { description: 'Events', content: { 'application/json': { schema: AuditList } } }, ...errorResponses },
});

export function auditRoutes(app: OpenAPIHono, audit: AuditLog): void {
  app.openapi(list, async (c) => {
    const q = c.req.valid('query');
    const p = principalOf(c);
    const project = q.project ?? p.project;
    if (!sees(p, project)) throw notFound(`project ${project}`);
    return c.json({ events: await audit.list(project, { ...(q.before !== undefined ? { before: q.before } : {}), limit: q.limit ?? 100 }) }, 200);
  });
}
