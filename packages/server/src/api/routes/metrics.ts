/**
 * @module routes/metrics
 * Prometheus metrics at /metrics: behind an API key on the API listener (scoped by the caller's
 * project, observe/exposition.ts), and, when configured, without one on a separate admin listener
 * (metricsApp) meant for a private network.
 */
import { Hono } from 'hono';
import type { OpenAPIHono } from '@hono/zod-openapi';
import type { Metrics } from '../../observe/metrics.js';
import { exposition } from '../../observe/exposition.js';
import type { Principals } from '../../auth/principals.js';
import { requireApiKey } from '../auth.js';
import { principalOf, scopeOf } from '../principal.js';

export function metricsRoutes(app: OpenAPIHono, metrics: Metrics, principals: Principals): void {
  app.use('/metrics', requireApiKey(principals));
  app.get('/metrics', async (c) => {
    const p = scopeOf(principalOf(c));
    return c.body(await exposition(metrics.registry, p), 200, { 'content-type': metrics.registry.contentType });
  });
}

/** The admin listener's app: /metrics only, every series, no key (bind it to a private address). */
export function metricsApp(metrics: Metrics): Hono {
  const app = new Hono();
  app.get('/metrics', async (c) => c.body(await metrics.registry.metrics(), 200, { 'content-type': metrics.registry.contentType }));
  return app;
}
