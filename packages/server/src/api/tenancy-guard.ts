/**
 * @module tenancy-guard
 * What every authenticated route passes through after its key is known, decided from the route
 * table (so a route added later is covered without anyone remembering):
 *
 * 1. The role: a `read` key may call only read routes, a non-admin key no admin route (403
 *    permission_denied). Checked before anything is looked up, so it tells nothing about ids.
 * 2. The key's rate (429 rate_limited with Retry-After).
 * 3. The project: a route under /v1/sandboxes/{id} finds the sandbox and answers 404, exactly as
 *    for an id that does not exist, unless it belongs to the key's project (or the key is admin).
 * 4. The project's in-flight quotas (execs and streams, pulls), held until the response ends.
 * 5. A streamed response ends when the key is revoked (or expires) while it is open.
 * 6. Every route that changes something (not a GET, or a GET that hands out a capability, like the
 *    ports token) is written to the audit log with its result.
 */
import { ErrorCode } from '@airlock/protocol/errors';
import type { Context, MiddlewareHandler } from 'hono';
import { matchedRoutes } from 'hono/route';
import type { Principal } from '../auth/principals.js';
import { AirlockError, notFound } from '../errors.js';
import type { SandboxService } from '../sandbox/service.js';
import type { AuditLog } from '../tenancy/audit-log.js';
import type { ProjectQuotas } from '../tenancy/quotas.js';
import type { KeyRateLimiter } from '../tenancy/rate-limit.js';
import { PUBLIC_PATHS } from './auth.js';
import { ERROR_STATUS } from './error-status.js';
import { principalOf, sees } from './principal.js';
import type { RouteEntry } from './route-table.js';

export interface GuardDeps {
  sandboxes: SandboxService;
  quotas: ProjectQuotas;
  rate: KeyRateLimiter;
  audit: AuditLog;
  routes(): RouteEntry[];
}

const AUDIT_PROJECT = 'airlock.auditProject';

/** A handler names the project an admin action was in (a key's, a project's), for the audit log. */
export function auditProject(c: Context, project: string): void {
  c.set(AUDIT_PROJECT as never, project as never);
}

export function tenancyGuard(d: GuardDeps): MiddlewareHandler {
  return async (c, next) => {
    if (PUBLIC_PATHS.has(c.req.path)) return next();
    const route = routeOf(c, d.routes());
    if (!route) return next(); // no handler: the not-found answer (404 or 405) follows
    const p = principalOf(c);
    const audited = route.method !== 'GET' || route.access === 'write';
    let project = p.project;
    let release: (() => void) | undefined;
    try {
      if (route.access === 'admin' && p.role !== 'admin')
        throw new AirlockError(ErrorCode.PermissionDenied, `${c.req.method} ${route.path} needs an admin key`);
      if (route.access === 'write' && p.role === 'read')
        throw new AirlockError(ErrorCode.PermissionDenied, `this key is read-only: ${c.req.method} ${route.path} changes something`);
      d.rate.take(p.keyId);
      if (route.path.startsWith('/v1/sandboxes/{id}')) project = await sandboxProject(d.sandboxes, p, c.req.path.split('/')[3]!);
      if (route.quota) release = d.quotas.acquire(project, route.quota);
    } catch (e) {
      if (audited) await audit(d, c, route, p, project, e);
      throw e;
    }
    try {
      await next();
    } finally {
      const body = c.res.body;
      const streamed = body !== null && !(c.res.headers.get('content-type') ?? '').includes('application/json');
      if (streamed) {
        c.res = new Response(endOnRevoke(body, p.signal, release ?? (() => {}), c.res.headers.get('content-type') ?? ''), c.res);
      } else {
        release?.();
      }
    }
    if (audited) await audit(d, c, route, p, project, c.error);
  };
}

/**
 * The table entry of the handler Hono is about to run, found from Hono's own match (not by matching
 * the path again, which could disagree on an edge case and let a request past the guard). A handler
 * under /v1 that is not in the table is refused: it was added without a declaration.
 */
function routeOf(c: Context, routes: RouteEntry[]): RouteEntry | undefined {
  const handler = matchedRoutes(c).find((r) => r.method !== 'ALL');
  if (!handler) return undefined;
  const method = handler.method.toUpperCase();
  const route = routes.find((r) => r.method === method && r.path.replace(/\{(\w+)\}/g, ':$1') === handler.path);
  if (!route) throw new AirlockError(ErrorCode.NotFound, `no route for ${c.req.method} ${c.req.path}`);
  return route;
}

/** The sandbox's project if the principal may see it; 404 (as for no such sandbox) otherwise. */
async function sandboxProject(sandboxes: SandboxService, p: Principal, rawId: string): Promise<string> {
  let id: string;
  try {
    id = decodeURIComponent(rawId);
  } catch {
    throw notFound(`sandbox ${rawId}`);
  }
  const r = await sandboxes.get(id);
  if (!sees(p, r.project)) throw notFound(`sandbox ${id}`);
  return r.project;
}

async function audit(d: GuardDeps, c: Context, route: RouteEntry, p: Principal, project: string, err: unknown): Promise<void> {
  const status = err instanceof AirlockError ? ERROR_STATUS[err.code] : c.res.status;
  const code = err instanceof AirlockError ? err.code : status >= 400 ? 'error' : 'ok';
  await d.audit.record({
    keyId: p.keyId,
    project: (c.get(AUDIT_PROJECT as never) as string | undefined) ?? project,
    action: `${route.method} ${route.path}`,
    target: targetOf(route.path, c.req.path),
    status,
    result: code,
    argv: argvOf(c),
  });
}

/** The path parameters' values (sandbox id, pid, image, project, key), joined: what was acted on. */
function targetOf(pattern: string, path: string): string | null {
  const a = pattern.split('/');
  const b = path.split('/');
  const values: string[] = [];
  a.forEach((seg, i) => {
    if (seg.startsWith('{') && b[i] !== undefined) {
      try {
        values.push(decodeURIComponent(b[i]!));
      } catch {
        values.push(b[i]!);
      }
    }
  });
  return values.length ? values.join('/') : null;
}

/** An exec's (or a started process's) command, as validated; never its env. */
function argvOf(c: Context): string[] | null {
  let body: unknown;
  try {
    body = (c.req as unknown as { valid(t: 'json'): unknown }).valid('json');
  } catch {
    return null;
  }
  const cmd = (body as { cmd?: unknown } | undefined)?.cmd;
  if (typeof cmd === 'string') return ['/bin/sh', '-c', cmd];
  if (Array.isArray(cmd) && cmd.every((x) => typeof x === 'string')) return cmd as string[];
  return null;
}

/**
 * The response body, ended when the key's signal fires (an NDJSON stream says why in a last
 * line), and `done` called once it ends however it ends.
 */
function endOnRevoke(body: ReadableStream<Uint8Array>, signal: AbortSignal, done: () => void, contentType: string): ReadableStream<Uint8Array> {
  const reader = body.getReader();
  let finished = false;
  let ctl: ReadableStreamDefaultController<Uint8Array> | undefined;
  const finish = () => {
    if (finished) return false;
    finished = true;
    signal.removeEventListener('abort', onAbort);
    done();
    return true;
  };
  const onAbort = () => {
    if (!finish()) return;
    void reader.cancel(signal.reason).catch(() => {});
    try {
      if (contentType.includes('ndjson')) {
        ctl?.enqueue(
          new TextEncoder().encode(`${JSON.stringify({ type: 'error', code: ErrorCode.Unauthenticated, message: 'the API key is no longer valid' })}\n`),
        );
        ctl?.close();
      } else {
        ctl?.error(new Error('the API key is no longer valid'));
      }
    } catch {
      // already closed
    }
  };
  return new ReadableStream<Uint8Array>(
    {
      start(controller) {
        ctl = controller;
        if (signal.aborted) onAbort();
        else signal.addEventListener('abort', onAbort, { once: true });
      },
      async pull(controller) {
        try {
          const { done: end, value } = await reader.read();
          if (finished && !end) return;
          if (end) {
            if (finish()) controller.close();
          } else controller.enqueue(value);
        } catch (e) {
          if (finish()) controller.error(e);
        }
      },
      cancel(reason) {
        finish();
        return reader.cancel(reason);
      },
    },
    { highWaterMark: 0 },
  );
}
