/**
 * @module routes/ui
 * The web dashboard (packages/dashboard) at /ui: its built files, read once at start and served
 * from memory, with a Content-Security-Policy that lets the page load only its own files and talk
 * only to this server (no CDN, no inline script). No key is needed for the files; the page signs in
 * with an API key and sends it on each API call.
 */
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import type { OpenAPIHono } from '@hono/zod-openapi';

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.map': 'application/json',
  '.txt': 'text/plain; charset=utf-8',
};

const CSP =
  "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data: blob:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'";

/** The dashboard's built files, or undefined when it was not built (npm run build -w @airlock/dashboard). */
export function loadDashboard(): Map<string, { type: string; body: Buffer }> | undefined {
  let dir: string;
  try {
    dir = join(dirname(createRequire(import.meta.url).resolve('@airlock/dashboard/package.json')), 'dist', 'ui');
  } catch {
    return undefined;
  }
  if (!existsSync(join(dir, 'index.html'))) return undefined;
  const files = new Map<string, { type: string; body: Buffer }>();
  for (const name of readdirSync(dir)) {
    const ext = /\.[a-z]+$/.exec(name)?.[0] ?? '';
    const type = TYPES[ext];
    if (type) files.set(name, { type, body: readFileSync(join(dir, name)) });
  }
  return files;
}

export function uiRoutes(app: OpenAPIHono, files: Map<string, { type: string; body: Buffer }> | undefined): void {
  app.get('/ui', (c) => c.redirect('/ui/', 301));
  app.get('/ui/:file{[A-Za-z0-9._-]*}', (c) => {
    if (!files) return c.text('the dashboard is not built: run `npm run build -w @airlock/dashboard` (scripts/setup.sh does)\n', 404);
    const f = files.get(c.req.param('file') || 'index.html');
    if (!f) return c.text('not found\n', 404);
    return c.body(new Uint8Array(f.body), 200, {
      'content-type': f.type,
      'content-security-policy': CSP,
      'x-content-type-options': 'nosniff',
      'referrer-policy': 'no-referrer',
      'cache-control': 'no-cache',
    });
  });
}
