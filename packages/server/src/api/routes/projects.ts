/**
 * @module routes/projects
 * Projects and their quotas (admin keys), and a project's own view of itself (any key of it).
 */
import { createRoute, type OpenAPIHono } from '@hono/zod-openapi';
import { CreateProjectRequest, Project, ProjectList, ProjectName, QuotaPatch } from '@airlock/protocol';
import { z } from 'zod';
import { notFound } from '../../errors.js';
import type { ProjectView, Projects } from '../../tenancy/projects.js';
import { principalOf, sees } from '../principal.js';
import { errorResponses } from '../schemas.js';

const json = <T>(schema: T) => ({ content: { 'application/json': { schema } } });
const ProjectParams = z.object({ project: ProjectName });
const admin = { 'x-airlock-access': 'admin' as const };

const routes = {
  create: createRoute({
    method: 'post',
    path: '/v1/projects',
    ...admin,
    summary: 'Create a project (admin)',
    request: { body: { ...json(CreateProjectRequest), required: true } },
    responses: { 201: { description: 'The project', ...json(Project) }, ...errorResponses },
  }),
  list: createRoute({
    method: 'get',
    path: '/v1/projects',
    ...admin,
    summary: 'List projects with their quotas and usage (admin)',
    responses: { 200: { description: 'Projects', ...json(ProjectList) }, ...errorResponses },
  }),
  get: createRoute({
    method: 'get',
    path: '/v1/projects/{project}',
    summary: 'A project, its quotas and usage (its own keys, or admin)',
    request: { params: ProjectParams },
    responses: { 200: { description: 'The project', ...json(Project) }, ...errorResponses },
  }),
  quotas: createRoute({
    method: 'patch',
    path: '/v1/projects/{project}/quotas',
    ...admin,
    summary: "Change a project's quotas (admin); null: no limit",
    request: { params: ProjectParams, body: { ...json(QuotaPatch), required: true } },
    responses: { 200: { description: 'The project', ...json(Project) }, ...errorResponses },
  }),
  remove: createRoute({
    method: 'delete',
    path: '/v1/projects/{project}',
    ...admin,
    summary: 'Delete a project and revoke its keys (admin; refused while it has sandboxes, and for default)',
    request: { params: ProjectParams },
    responses: { 200: { description: 'The deleted project', ...json(Project) }, ...errorResponses },
  }),
};

export function projectRoutes(app: OpenAPIHono, projects: Projects): void {
  app.openapi(routes.create, async (c) => {
    const { name, quotas } = c.req.valid('json');
    return c.json(projectToWire(await projects.create(name, quotas ?? {})), 201);
  });
  app.openapi(routes.list, async (c) => c.json({ projects: (await projects.list()).map(projectToWire) }, 200));
  app.openapi(routes.get, async (c) => {
    const { project } = c.req.valid('param');
    if (!sees(principalOf(c), project)) throw notFound(`project ${project}`);
    return c.json(projectToWire(await projects.get(project)), 200);
  });
  app.openapi(routes.quotas, async (c) => c.json(projectToWire(await projects.setQuotas(c.req.valid('param').project, c.req.valid('json'))), 200));
  app.openapi(routes.remove, async (c) => c.json(projectToWire(await projects.delete(c.req.valid('param').project)), 200));
}

function projectToWire(p: ProjectView): Project {
  return { name: p.name, createdAt: p.createdAt, quotas: p.quotas, overrides: p.overrides, usage: p.usage };
}
