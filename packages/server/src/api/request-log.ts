/**
 * @module request-log
 * One structured log line per request, and the HTTP request series: method, route template (never
 * the raw path, whose ids and file paths are unbounded), status, time to the response head, and who
 * asked (key id, project) and about which sandbox. Never a body, a header value, a query string or
 * an environment value: those can carry secrets, and the line is written for every request.
 */
import type { MiddlewareHandler } from 'hono';
import { matchedRoutes } from 'hono/route';
import { QUOTA_NAMES } from '@airlock/protocol';
import { ErrorCode } from '@airlock/protocol/errors';
import { AirlockError } from '../errors.js';
import type { Logger } from '../log.js';
import type { Metrics } from '../observe/metrics.js';
import { principalIfAny } from './principal.js';

const SANDBOX_ID = /^[A-Za-z0-9_-]{1,64}$/;

export function requestLog(log: Logger, metrics: Metrics): MiddlewareHandler {
  return async (c, next) => {
    const t0 = performance.now();
    await next();
    const seconds = (performance.now() - t0) / 1000;
    const status = c.res.status;
    // The matched route's template; a request no route took has none of its own.
    const route =
      matchedRoutes(c)
        .filter((r) => r.method !== 'ALL')
        .at(-1)?.path ?? '(unmatched)';
    const method = c.req.method;
    const error = c.error;
    metrics.httpRequests.inc({ method, route, status: String(status) });
    metrics.httpSeconds.observe({ method, route }, seconds);
    // The rest (the key's lookup, the line) waits for the next turn, after the response went out.
    setImmediate(() => void finish());
    const finish = async () => {
      const who = status === 401 ? undefined : principalIfAny(c);
      const id = route.includes(':id') ? paramId(c.req.path) : undefined;
      if (error instanceof AirlockError) {
        const quota = refusedQuota(error);
        if (quota !== undefined) metrics.quotaRefused(who?.project ?? 'unknown', quota);
      }
      const line = {
        method,
        route,
        status,
        ms: Math.round(seconds * 10_000) / 10,
        ...(who ? { key: who.keyId, project: who.project } : {}),
        ...(id !== undefined && SANDBOX_ID.test(id) ? { sandbox: id } : {}),
        ...(error instanceof AirlockError ? { code: error.code } : {}),
      };
      if (status >= 500) log.warn(line, 'request');
      else log.info(line, 'request');
    };
  };
}

/** The id in /v1/sandboxes/{id}/… (the route's own params are not at hand once it answered). */
function paramId(path: string): string | undefined {
  return /^\/v1\/sandboxes\/([^/]+)/.exec(path)?.[1];
}

/**
 * Which quota refused a request: a project's (quota_exceeded, quota_limit: tenancy's errors name it,
 * `…quota sandboxes=4…`), or the server's capacity; undefined for any other error. The label is one
 * of the closed set of quota names, never text from the message itself.
 */
function refusedQuota(e: AirlockError): string | undefined {
  if (e.code === ErrorCode.Capacity) return 'server_capacity';
  if (e.code !== ErrorCode.QuotaExceeded && e.code !== ErrorCode.QuotaLimit) return undefined;
  const name = / (\w+)=\d/.exec(e.message)?.[1];
  return name !== undefined && (QUOTA_NAMES as readonly string[]).includes(name) ? name : 'other';
}
