/**
 * The authorization matrix, generated from the server's own route table (api/route-table.ts), so a
 * route added later is covered without anyone remembering: every route, plus the WebSocket attach,
 * against no key, a malformed header, a wrong key, a revoked key, an expired key, another project's
 * key, a read key, a project key and an admin key. Refusals must be exactly the expected status
 * (401, 403 permission_denied, 404 / the missing-image answer); an allowed case must get past the
 * guard (anything but 401/403 and the scope's 404). Unexpected 2xx must be 0.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import WebSocket from 'ws';
import type { RouteEntry } from './route-table.js';
import { tarOf } from '@airlock/testkit/image-fixtures.js';
import { Api, TEST_KEY, recordSandbox, startTestServer, type TestServer } from '@airlock/testkit/harness.js';

const CASES = ['none', 'malformed', 'wrong', 'revoked', 'expired', 'other', 'read', 'project', 'admin'] as const;
type Case = (typeof CASES)[number];

/** Routes whose allowed cases destroy what later routes need: run last, in this order. */
const LAST = [
  'DELETE /v1/webhooks/{id}',
  'DELETE /v1/images/{image}',
  'POST /v1/images/prune',
  'DELETE /v1/sandboxes/{id}/processes/{pid}',
  'DELETE /v1/projects/{project}',
  'DELETE /v1/sandboxes/{id}',
];
const rank = (r: RouteEntry) => LAST.indexOf(`${r.method} ${r.path}`);

type Expect = { status: number; code?: string } | 'allowed';

/** What a route must answer for a case, from the route's own declaration (access, path). */
function expected(route: RouteEntry, c: Case): Expect {
  if (route.path === '/v1/health') return { status: 200 };
  if (['none', 'malformed', 'wrong', 'revoked', 'expired'].includes(c)) return { status: 401, code: 'unauthenticated' };
  if (c === 'admin') return 'allowed';
  if (route.access === 'admin') return { status: 403, code: 'permission_denied' };
  if (c === 'read' && route.access === 'write') return { status: 403, code: 'permission_denied' };
  if (c === 'other') {
    if (route.path.startsWith('/v1/sandboxes/{id}')) return { status: 404, code: 'not_found' };
    // An image another project holds answers exactly as one that is not there.
    if (route.path.startsWith('/v1/images/{image}')) return { status: 422, code: 'image_not_found' };
    if (route.path === '/v1/projects/{project}') return { status: 404, code: 'not_found' };
    if (route.path === '/v1/images/builds/{id}') return { status: 404, code: 'not_found' };
    if (route.path.startsWith('/v1/webhooks/{id}')) return { status: 404, code: 'not_found' };
  }
  return 'allowed';
}

describe('authorization matrix', { timeout: 15 * 60_000 }, () => {
  let t: TestServer;
  let admin: Api;
  const keys = {} as Record<Case, string | undefined>;
  const headers = (c: Case): Record<string, string> =>
    c === 'none' ? {} : c === 'malformed' ? { authorization: 'Basic YWxpY2U6c2VjcmV0' } : { authorization: `Bearer ${keys[c]}` };
  const fill = { id: '', pid: '', image: '', project: 'alpha', key: '', webhook: '', cid: '' };

  before(async () => {
    t = await startTestServer();
    admin = t.api;
    for (const name of ['alpha', 'beta']) assert.equal((await admin.call('POST', '/v1/projects', { name })).status, 201);
    const issue = async (project: string, body: Record<string, unknown>) => {
      const r = await admin.call('POST', `/v1/projects/${project}/keys`, body);
      assert.equal(r.status, 201, JSON.stringify(r.body));
      assert.match(r.body.key, /^ak_[a-z0-9]{16}_[A-Za-z0-9_-]{43}$/);
      return r.body as { key: string; info: { id: string } };
    };
    keys.project = (await issue('alpha', { name: 'ci', role: 'project' })).key;
    keys.read = (await issue('alpha', { name: 'dash', role: 'read' })).key;
    keys.other = (await issue('beta', { name: 'ci', role: 'project' })).key;
    const revoked = await issue('alpha', { name: 'old', role: 'project' });
    assert.equal((await admin.call('DELETE', `/v1/keys/${revoked.info.id}`)).status, 200);
    keys.revoked = revoked.key;
    keys.expired = (await issue('alpha', { name: 'short', role: 'project', expiresInSeconds: 1 })).key;
    keys.wrong = `ak_${'q'.repeat(16)}_${'x'.repeat(43)}`;
    keys.admin = TEST_KEY;
    fill.key = (await issue('alpha', { name: 'victim', role: 'project' })).info.id;

    const alpha = new Api(admin.url, keys.project);
    const sb = await alpha.create({ runtime: 'bwrap' });
    assert.match(sb.id, /^sb-[a-z0-9]{24}$/, 'sandbox ids are 24 random base36 chars');
    fill.id = sb.id;
    const proc = await alpha.call('POST', `/v1/sandboxes/${sb.id}/processes`, { cmd: ['sleep', '600'] });
    assert.equal(proc.status, 201, JSON.stringify(proc.body));
    fill.pid = proc.body.id;
    const layer = await tarOf([{ name: 'hello.txt', body: 'alpha\n' }]);
    const archive = await tarOf([
      { name: 'manifest.json', body: JSON.stringify([{ Config: 'config.json', RepoTags: ['alpha/tool:1'], Layers: ['l/layer.tar'] }]) },
      {
        name: 'config.json',
        body: JSON.stringify({
          architecture: 'amd64',
          os: 'linux',
          config: {},
          rootfs: { type: 'layers', diff_ids: [`sha256:${(await import('node:crypto')).createHash('sha256').update(layer).digest('hex')}`] },
        }),
      },
      { name: 'l/', type: 'directory' },
      { name: 'l/layer.tar', body: layer },
    ]);
    const imported = await alpha.call('POST', '/v1/images/import', archive, { 'content-type': 'application/x-tar' });
    assert.equal(imported.status, 200, JSON.stringify(imported.body));
    fill.image = imported.body.images[0].id;
    const ctx = await alpha.call('POST', `/v1/sandboxes/${sb.id}/code/contexts`, { language: 'python' });
    fill.cid = ctx.status === 201 ? ctx.body.id : 'ctx-none'; // the sandbox's scope is what the matrix judges
    const hook = await alpha.call('POST', '/v1/webhooks', { url: 'https://hooks.invalid/alpha' });
    assert.equal(hook.status, 201, JSON.stringify(hook.body));
    fill.webhook = hook.body.id;
    await new Promise((r) => setTimeout(r, 1200)); // the expired key's second is over
  });

  after(async () => {
    await t?.close();
  });

  test('every route × every key case answers as expected; unexpected 2xx = 0', async (ctx) => {
    const routes = [...t.server.routes].sort((a, b) => rank(a) - rank(b));
    let cases = 0;
    let unexpected2xx = 0;
    // Positive control: the keys that should get through do, on most routes (the matrix is not vacuous).
    let allowed2xx = 0;
    const mismatches: string[] = [];
    for (const route of routes) {
      for (const c of CASES) {
        if (route.method === 'DELETE' && route.path === '/v1/sandboxes/{id}' && c === 'admin') await recreate(); // the project key's case destroyed it
        const r = await send(route, c);
        cases++;
        const want = expected(route, c);
        const ok = want === 'allowed' ? allowed(r) : r.status === want.status && (want.code === undefined || r.code === want.code);
        if (!ok)
          mismatches.push(
            `${route.method} ${route.path} [${c}]: ${r.status} ${r.code ?? ''} ${r.message ?? ''} (wanted ${want === 'allowed' ? 'allowed' : want.status})`,
          );
        if (want !== 'allowed' && want.status >= 300 && r.status >= 200 && r.status < 300) unexpected2xx++;
        if (want === 'allowed' && r.status >= 200 && r.status < 300) allowed2xx++;
      }
    }
    // The WebSocket attach is not in the OpenAPI table (it is an upgrade): its row is written out here.
    const ws: Record<Case, number> = { none: 401, malformed: 401, wrong: 401, revoked: 401, expired: 401, other: 404, read: 403, project: 101, admin: 101 };
    await recreate();
    const proc = await new Api(admin.url, keys.project).call('POST', `/v1/sandboxes/${fill.id}/processes`, { cmd: ['sleep', '600'] });
    for (const c of CASES) {
      const status = await attachStatus(fill.id, proc.body.id, c);
      cases++;
      if (status !== ws[c]) mismatches.push(`WS attach [${c}]: ${status} (wanted ${ws[c]})`);
      if (ws[c] !== 101 && status === 101) unexpected2xx++;
      if (ws[c] === 101 && status === 101) allowed2xx++;
    }
    const summary = `${routes.length + 1} routes (incl. WebSocket attach) × ${CASES.length} cases = ${cases}; mismatches ${mismatches.length}; unexpected 2xx ${unexpected2xx}; allowed cases answered 2xx ${allowed2xx}`;
    ctx.diagnostic(summary);
    console.log(`authz matrix: ${summary}`);
    assert.deepEqual(mismatches, []);
    assert.equal(unexpected2xx, 0);
    assert.ok(allowed2xx > 60, `allowed keys got through on ${allowed2xx} cases only`);
  });

  test('no handler escapes the route table (the few outside it check keys themselves, and are walked here)', async () => {
    const inTable = new Set(t.server.routes.map((r) => `${r.method} ${r.path.replace(/\{(\w+)\}/g, ':$1')}`));
    const outside = t.server.handlers.map((h) => `${h.method} ${h.path}`).filter((h) => !inTable.has(h));
    // The OpenAPI document is public; /metrics is behind requireApiKey on its own (routes/metrics.ts);
    // /ui serves the dashboard's static files, which hold no data (its API calls carry the user's key).
    assert.deepEqual([...new Set(outside)].sort(), ['GET /metrics', 'GET /ui', 'GET /ui/:file{[A-Za-z0-9._-]*}', 'GET /v1/openapi.json']);
    const want: Record<Case, number> = { none: 401, malformed: 401, wrong: 401, revoked: 401, expired: 401, other: 200, read: 200, project: 200, admin: 200 };
    for (const c of CASES) {
      const res = await fetch(`${admin.url}/metrics`, { headers: headers(c) });
      await res.arrayBuffer();
      assert.equal(res.status, want[c], `/metrics [${c}]`);
    }
    assert.equal((await fetch(`${admin.url}/v1/openapi.json`)).status, 200);
    // The dashboard's files carry no data: the same bytes to a caller without a key, and nothing outside its folder.
    const ui = await fetch(`${admin.url}/ui/`);
    assert.equal(ui.status, 200);
    assert.match(ui.headers.get('content-type') ?? '', /text\/html/);
    assert.equal((await fetch(`${admin.url}/ui/..%2Fpackage.json`)).status, 404);
  });

  test("another project sees none of alpha's sandboxes or images in its lists; admin sees them", async () => {
    await recreate();
    const beta = new Api(admin.url, keys.other);
    const alpha = new Api(admin.url, keys.project);
    assert.equal(
      (await beta.call('GET', '/v1/sandboxes')).body.sandboxes.some((s: any) => s.id === fill.id),
      false,
    );
    assert.equal(
      (await alpha.call('GET', '/v1/sandboxes')).body.sandboxes.some((s: any) => s.id === fill.id),
      true,
      'positive control',
    );
    const layer = await tarOf([{ name: 'b.txt', body: 'beta\n' }]);
    const digest = `sha256:${(await import('node:crypto')).createHash('sha256').update(layer).digest('hex')}`;
    const archive = await tarOf([
      { name: 'manifest.json', body: JSON.stringify([{ Config: 'config.json', RepoTags: ['alpha/private:1'], Layers: ['l/layer.tar'] }]) },
      { name: 'config.json', body: JSON.stringify({ architecture: 'amd64', os: 'linux', config: {}, rootfs: { type: 'layers', diff_ids: [digest] } }) },
      { name: 'l/', type: 'directory' },
      { name: 'l/layer.tar', body: layer },
    ]);
    const imported = (await alpha.call('POST', '/v1/images/import', archive, { 'content-type': 'application/x-tar' })).body.images[0];
    assert.equal(
      (await beta.call('GET', '/v1/images')).body.images.some((i: any) => i.id === imported.id),
      false,
    );
    assert.equal(
      (await alpha.call('GET', '/v1/images')).body.images.some((i: any) => i.id === imported.id),
      true,
      'positive control',
    );
    assert.equal(
      (await admin.call('GET', '/v1/images')).body.images.some((i: any) => i.id === imported.id),
      false,
      "an admin's list is its own project's",
    );
    assert.equal(
      (await admin.call('GET', '/v1/images?project=alpha')).body.images.some((i: any) => i.id === imported.id),
      true,
      'unless it names another',
    );
    assert.equal((await beta.call('GET', '/v1/images?project=alpha')).status, 404, 'which only an admin may');
    assert.equal(
      (await admin.call('GET', '/v1/sandboxes?project=alpha')).body.sandboxes.some((s: any) => s.id === fill.id),
      true,
    );
    assert.equal((await beta.call('GET', '/v1/sandboxes?project=alpha')).status, 404);
    const byRef = await beta.call('GET', `/v1/images/${encodeURIComponent('alpha/private:1')}`);
    const missing = await beta.call('GET', `/v1/images/${encodeURIComponent('alpha/nothing:1')}`);
    assert.deepEqual([byRef.status, byRef.body.code], [missing.status, missing.body.code], "another project's image answers as one that is not there");
    const create = await beta.call('POST', '/v1/sandboxes', { image: 'alpha/private:1', runtime: 'runc' });
    const createMissing = await beta.call('POST', '/v1/sandboxes', { image: 'alpha/nothing:1', runtime: 'runc' });
    assert.ok(create.status >= 400, "a sandbox cannot be made from another project's image");
    assert.deepEqual([create.status, create.body.code], [createMissing.status, createMissing.body.code], 'it answers as for an image that is not there');
    assert.equal((await beta.call('DELETE', `/v1/images/${encodeURIComponent(imported.id)}`)).status, 422);
    // A build cannot start from it either; alpha's own build can (the positive control).
    const context = await tarOf([
      { name: 'Dockerfile', body: 'FROM alpha/private:1\nCOPY extra.txt /extra.txt\n' },
      { name: 'extra.txt', body: 'x\n' },
    ]);
    const build = async (api: Api) => {
      const res = await fetch(`${admin.url}/v1/images/build?tag=${encodeURIComponent(`${api === alpha ? 'alpha' : 'beta'}/built:1`)}`, {
        method: 'POST',
        headers: { authorization: `Bearer ${api.key}`, 'content-type': 'application/x-tar' },
        body: context,
      });
      const events = (await res.text())
        .split('\n')
        .filter(Boolean)
        .map((l) => JSON.parse(l));
      return events.at(-1);
    };
    const refused = await build(beta);
    assert.equal(refused.type, 'error', JSON.stringify(refused));
    assert.match(refused.code, /^(image_not_found|registry_unavailable)$/, 'as for an image that is not there: its registry is asked');
    const built = await build(alpha);
    assert.equal(built.type, 'image', JSON.stringify(built));
    assert.equal((await alpha.call('GET', `/v1/images/${encodeURIComponent(imported.id)}`)).status, 200, 'still there for alpha');
  });

  async function recreate(): Promise<void> {
    const cur = await admin.call('GET', `/v1/sandboxes/${fill.id}`);
    if (cur.status === 200 && cur.body.state === 'running') return;
    const sb = await new Api(admin.url, keys.project).create({ runtime: 'bwrap' });
    fill.id = sb.id;
  }

  async function send(route: RouteEntry, c: Case): Promise<{ status: number; code?: string; message?: string }> {
    let path = route.path.replace(/\{(\w+)\}/g, (_, name: string) => {
      const v =
        route.path.startsWith('/v1/images/builds/') && name === 'id'
          ? 'b-none'
          : route.path.startsWith('/v1/webhooks/') && name === 'id'
            ? fill.webhook
            : fill[name as keyof typeof fill];
      assert.ok(v !== undefined, `the matrix has no value for {${name}} in ${route.path}: add one`);
      return encodeURIComponent(v);
    });
    if (route.method === 'GET' || route.method === 'DELETE') path += '?path=/tmp/matrix&timeout=0&follow=false';
    const json = route.bodyTypes?.includes('application/json');
    const body =
      route.bodyTypes === undefined
        ? undefined
        : json
          ? JSON.stringify(
              route.path.endsWith('/exec') || route.path.endsWith('/exec/stream')
                ? { cmd: ['true'] }
                : route.path.endsWith('/processes')
                  ? { cmd: ['sleep', '600'] }
                  : route.path === '/v1/sandboxes'
                    ? { runtime: 'bwrap' }
                    : {},
            )
          : new Uint8Array(0);
    const res = await fetch(`${admin.url}${path}`, {
      method: route.method,
      headers: {
        ...headers(c),
        ...(body === undefined ? {} : { 'content-type': json ? 'application/json' : (route.bodyTypes![0] ?? 'application/octet-stream') }),
      },
      ...(body === undefined ? {} : { body }),
    });
    const type = res.headers.get('content-type') ?? '';
    if (type.includes('application/json')) {
      const b = (await res.json()) as { code?: string; message?: string; id?: string };
      if (route.method === 'POST' && route.path === '/v1/sandboxes' && res.status === 201 && b.id) recordSandbox(b.id);
      return { status: res.status, ...(b.code ? { code: b.code } : {}), ...(b.message ? { message: b.message } : {}) };
    }
    await res.body?.cancel(); // a stream: the status is what counts
    return { status: res.status };
  }

  /** Past the guard: not refused for the key, and not the scope's 404 for alpha's own sandbox. */
  function allowed(r: { status: number; code?: string; message?: string }): boolean {
    if (r.status === 401 || r.status === 403) return false;
    if (r.status === 404 && r.message?.includes(`sandbox ${fill.id} `)) return false;
    return true;
  }

  function attachStatus(sandbox: string, pid: string, c: Case): Promise<number> {
    return new Promise((resolve) => {
      const ws = new WebSocket(`${admin.url.replace(/^http/, 'ws')}/v1/sandboxes/${sandbox}/processes/${pid}/attach`, { headers: headers(c) });
      ws.once('open', () => {
        ws.close();
        resolve(101);
      });
      ws.once('unexpected-response', (_req, res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      });
      ws.once('error', () => resolve(0));
    });
  }
});
