/**
 * @module route-table
 * The server's own routes as data, read from the OpenAPI registry the routes are declared in: what
 * answers 405 (the path exists with other methods), what a body must be (415), and what tests
 * enumerate (the authorization matrix covers a route added later without anyone remembering).
 */
import type { OpenAPIHono } from '@hono/zod-openapi';

/**
 * What a route needs of a key's role: `read` (list, get, logs: no side effects) is every GET unless
 * it says otherwise; `write` is everything else; `admin` routes say so (`'x-airlock-access'`).
 */
export type RouteAccess = 'read' | 'write' | 'admin';
/** The per-project in-flight quota a route takes a unit of while it runs (`'x-airlock-quota'`). */
export type RouteQuota = 'execs' | 'pulls';

export interface RouteEntry {
  method: string;
  access: RouteAccess;
  quota: RouteQuota | undefined;
  /** OpenAPI form: /v1/sandboxes/{id}. */
  path: string;
  /** Media types the request body may have; undefined when the route takes no body. */
  bodyTypes: string[] | undefined;
  matches(path: string): boolean;
}

interface RouteDefinition {
  type: string;
  route?: {
    method: string;
    path: string;
    request?: { body?: { content?: Record<string, unknown> } };
    'x-airlock-access'?: RouteAccess;
    'x-airlock-quota'?: RouteQuota;
  };
}

export function routeTable(app: OpenAPIHono): RouteEntry[] {
  const defs = (app.openAPIRegistry as unknown as { definitions: RouteDefinition[] }).definitions;
  return defs
    .filter((d) => d.type === 'route' && d.route)
    .map((d) => {
      const { method, path, request } = d.route!;
      const access = d.route!['x-airlock-access'] ?? (method.toLowerCase() === 'get' ? 'read' : 'write');
      const quota = d.route!['x-airlock-quota'];
      const pattern = new RegExp(`^${path.replace(/[.*+?^$()|[\]\\]/g, '\\$&').replace(/\\\{[^}]+\\\}|\{[^}]+\}/g, '[^/]+')}$`);
      const content = request?.body?.content;
      return {
        method: method.toUpperCase(),
        path,
        access,
        quota,
        bodyTypes: content ? Object.keys(content) : undefined,
        matches: (p: string) => pattern.test(p),
      };
    });
}

const JSON_MEDIA = /^application\/([\w.-]+\+)?json$/i;

/**
 * Whether a request's Content-Type suits the route: a JSON route takes JSON (in any of its
 * spellings: `Application/JSON`, `application/merge-patch+json`); a route taking raw bytes (a file,
 * a tar archive) takes any, since the bytes are what they are.
 */
export function acceptsBody(entry: RouteEntry, contentType: string | undefined): boolean {
  if (!entry.bodyTypes?.includes('application/json')) return true;
  return JSON_MEDIA.test((contentType ?? '').split(';')[0]!.trim());
}

/** Routes whose bodies stream with limits of their own (uploads, imports); every other body has the JSON limit. */
export function streamsBody(entry: RouteEntry): boolean {
  return entry.bodyTypes !== undefined && !entry.bodyTypes.includes('application/json');
}
