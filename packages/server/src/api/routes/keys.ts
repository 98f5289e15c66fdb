/**
 * @module routes/keys
 * A project's API keys (admin keys only): issue (the key is in this answer and never again), list,
 * revoke (at once, for what the key has open too) and rotate (a new key, the old one revoked).
 */
import { createRoute, type OpenAPIHono } from '@hono/zod-openapi';
import { ApiKeyInfo, ApiKeyList, CreateKeyRequest, CreatedKey, ProjectName } from '@airlock/protocol';
import { z } from 'zod';
import type { ApiKeyRecord } from '../../store/store.js';
import type { Projects } from '../../tenancy/projects.js';
import { errorResponses } from '../schemas.js';
import { auditProject } from '../tenancy-guard.js';

const json = <T>(schema: T) => ({ content: { 'application/json': { schema } } });
const admin = { 'x-airlock-access': 'admin' as const };
const KeyParams = z.object({
  key: z
    .string()
    .min(1)
    .max(64)
    .regex(/^[A-Za-z0-9-]+$/)
    .describe("The key's public id"),
});

const routes = {
  issue: createRoute({
    method: 'post',
    path: '/v1/projects/{project}/keys',
    ...admin,
    summary: 'Issue a key for a project (admin); the answer is the only time the key is shown',
    request: { params: z.object({ project: ProjectName }), body: { ...json(CreateKeyRequest), required: true } },
    responses: { 201: { description: 'The key', ...json(CreatedKey) }, ...errorResponses },
  }),
  list: createRoute({
    method: 'get',
    path: '/v1/projects/{project}/keys',
    ...admin,
    summary: "A project's keys, without their secrets (admin)",
    request: { params: z.object({ project: ProjectName }) },
    responses: { 200: { description: 'Keys', ...json(ApiKeyList) }, ...errorResponses },
  }),
  revoke: createRoute({
    method: 'delete',
    path: '/v1/keys/{key}',
    ...admin,
    summary: 'Revoke a key at once: its open streams and attach sessions end (admin)',
    request: { params: KeyParams },
    responses: { 200: { description: 'The revoked key', ...json(ApiKeyInfo) }, ...errorResponses },
  }),
  rotate: createRoute({
    method: 'post',
    path: '/v1/keys/{key}/rotate',
    ...admin,
    summary: 'A new key with the same project, role and name; the old one is revoked at once (admin)',
    request: { params: KeyParams },
    responses: { 200: { description: 'The new key', ...json(CreatedKey) }, ...errorResponses },
  }),
};

export function keyRoutes(app: OpenAPIHono, projects: Projects): void {
  app.openapi(routes.issue, async (c) => {
    const { project } = c.req.valid('param');
    const req = c.req.valid('json');
    const { key, record } = await projects.issueKey(project, { name: req.name, role: req.role, expiresInSeconds: req.expiresInSeconds });
    auditProject(c, project);
    return c.json({ key, info: keyToWire(record) }, 201);
  });
  app.openapi(routes.list, async (c) => {
    const { project } = c.req.valid('param');
    await projects.get(project);
    return c.json({ keys: (await projects.listKeys(project)).map(keyToWire) }, 200);
  });
  app.openapi(routes.revoke, async (c) => {
    const revoked = await projects.revokeKey(c.req.valid('param').key);
    auditProject(c, revoked.project);
    return c.json(keyToWire(revoked), 200);
  });
  app.openapi(routes.rotate, async (c) => {
    const { key, record } = await projects.rotateKey(c.req.valid('param').key);
    auditProject(c, record.project);
    return c.json({ key, info: keyToWire(record) }, 200);
  });
}

export function keyToWire(k: ApiKeyRecord): ApiKeyInfo {
  return { id: k.id, project: k.project, role: k.role, name: k.name, createdAt: k.createdAt, expiresAt: k.expiresAt, revokedAt: k.revokedAt };
}
