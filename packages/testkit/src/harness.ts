/**
 * @module harness
 * Test support: a real server on a loopback port with its own data dir under the run's test root,
 * a tiny typed HTTP client, and a ledger of every sandbox id a test created so that the leak check
 * after the suite can prove nothing of them is left on the host.
 */
import assert from 'node:assert/strict';
import { appendFileSync, mkdirSync, mkdtempSync } from 'node:fs';
import { join } from 'node:path';
import type { ConfigOverrides } from '@airlock/server/internal/config.js';
import { startServer, type RunningServer, type StartOptions } from '@airlock/server/internal/server.js';

export const TEST_KEY = 'test-key-0123456789abcdef-airlock';

/** All data dirs of one suite run live here; scripts/test.sh sets it and checks it afterwards. */
export function testRoot(): string {
  const root = process.env.AIRLOCK_TEST_ROOT ?? '/tmp/airlock-test';
  mkdirSync(root, { recursive: true, mode: 0o711 });
  return root;
}

export function newDataDir(prefix = 'srv'): string {
  return mkdtempSync(join(testRoot(), `${prefix}-`));
}

export function recordSandbox(id: string): void {
  appendFileSync(join(testRoot(), 'ledger'), `${id}\n`);
}

/**
 * Polls until `probe` gives a value. Not a timing assertion: the deadline only makes a broken
 * background job (a pool refill, a release) fail the test instead of hanging it.
 */
export async function eventually<T>(what: string, probe: () => T | undefined | Promise<T | undefined>, deadlineMs = 120_000): Promise<T> {
  const end = Date.now() + deadlineMs;
  for (;;) {
    const v = await probe();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`gave up waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/**
 * Reads a value until `done` holds for it. A wait that gives up names the value it read last (a
 * pool's lastError, a process's state), so the failure says what the test saw, not only that it waited.
 */
export async function eventuallyReads<T>(what: string, read: () => Promise<T>, done: (v: T) => boolean, deadlineMs = 120_000): Promise<T> {
  let last: T | undefined;
  try {
    return await eventually(
      what,
      async () => {
        last = await read();
        return done(last) ? last : undefined;
      },
      deadlineMs,
    );
  } catch (e) {
    throw new Error(`${(e as Error).message}; last seen: ${JSON.stringify(last)}`, { cause: e });
  }
}

export interface TestServer {
  server: RunningServer;
  api: Api;
  close(): Promise<void>;
}

export async function startTestServer(
  dataDir = newDataDir(),
  overrides: ConfigOverrides = {},
  options: Pick<StartOptions, 'createRuntime'> = {},
): Promise<TestServer> {
  // No uplink unless a test brings its own internet (net-rig.ts): a test server never turns on
  // forwarding on the host's real interfaces, and no sandbox packet can leave the machine.
  const network = { uplinks: [], ...overrides.network };
  const server = await startServer({ dataDir, port: 0, apiKey: TEST_KEY, logLevel: 'warn', ...overrides, network }, { print: () => {}, ...options });
  const api = new Api(server.url, TEST_KEY);
  return {
    server,
    api,
    close: async () => {
      await server.sandboxes.destroyAll();
      await server.close();
    },
  };
}

export interface Reply<T = any> {
  status: number;
  body: T;
}

/** A deliberately thin client: tests check the HTTP contract itself, not the SDK's view of it. */
export class Api {
  constructor(
    readonly url: string,
    readonly key: string | undefined,
  ) {}

  async call<T = any>(method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<Reply<T>> {
    const res = await fetch(`${this.url}${path}`, {
      method,
      headers: {
        ...(this.key ? { authorization: `Bearer ${this.key}` } : {}),
        ...(body !== undefined && typeof body !== 'string' && !(body instanceof Uint8Array) ? { 'content-type': 'application/json' } : {}),
        ...headers,
      },
      ...(body === undefined ? {} : { body: typeof body === 'string' || body instanceof Uint8Array ? body : JSON.stringify(body) }),
    });
    const type = res.headers.get('content-type') ?? '';
    const parsed = type.includes('application/json') ? await res.json() : Buffer.from(await res.arrayBuffer());
    return { status: res.status, body: parsed as T };
  }

  async create(params: Record<string, unknown> = {}): Promise<any> {
    const r = await this.call('POST', '/v1/sandboxes', params);
    if (r.status !== 201) throw new Error(`create failed: ${r.status} ${JSON.stringify(r.body)}`);
    recordSandbox(r.body.id);
    return r.body;
  }

  async exec(id: string, req: Record<string, unknown>): Promise<any> {
    const r = await this.call('POST', `/v1/sandboxes/${id}/exec`, req);
    if (r.status !== 200) throw new Error(`exec failed: ${r.status} ${JSON.stringify(r.body)}`);
    return r.body;
  }

  /** Runs the streaming exec and returns every event in order, with base64 payloads decoded. */
  async stream(id: string, req: Record<string, unknown>): Promise<{ status: number; events: any[] }> {
    const res = await fetch(`${this.url}/v1/sandboxes/${id}/exec/stream`, {
      method: 'POST',
      headers: { authorization: `Bearer ${this.key}`, 'content-type': 'application/json' },
      body: JSON.stringify(req),
    });
    if (res.status !== 200) return { status: res.status, events: [await res.json()] };
    const text = await res.text();
    const events = text
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l))
      .map((e) => (e.type === 'stdout' || e.type === 'stderr' ? { ...e, text: Buffer.from(e.data, 'base64').toString() } : e));
    return { status: res.status, events };
  }
}

/** A new project (with these quota overrides) and a `project` key of it, through the admin API. */
export async function projectWithKey(admin: Api, name: string, quotas?: Record<string, number | null>): Promise<Api> {
  assert.equal((await admin.call('POST', '/v1/projects', { name, ...(quotas ? { quotas } : {}) })).status, 201);
  const r = await admin.call('POST', `/v1/projects/${name}/keys`, { name: 'k', role: 'project' });
  assert.equal(r.status, 201);
  return new Api(admin.url, r.body.key);
}
