/**
 * @module fake-fetch
 * Test support: a strict fake `fetch`. Every call must match the next expectation (method and
 * URL); an unexpected call throws, and `assertExhausted()` fails on unused expectations.
 */
import type { Sandbox as SandboxInfo } from '@airlock/protocol';
import type { FetchLike } from './config.js';

export interface RecordedRequest {
  method: string;
  url: string;
  headers: Record<string, string>;
  body: Uint8Array | undefined;
  signal: AbortSignal | undefined;
  text(): string;
  json(): unknown;
}

type Responder = (request: RecordedRequest) => Response | Promise<Response>;

export class FakeFetch {
  readonly requests: RecordedRequest[] = [];
  readonly #expected: { method: string; url: string; respond: Responder }[] = [];

  expect(method: string, url: string, respond: Responder): this {
    this.#expected.push({ method, url, respond });
    return this;
  }

  readonly fetch: FetchLike = async (url, init) => {
    const method = init.method ?? 'GET';
    const next = this.#expected.shift();
    if (next === undefined) throw new Error(`Unexpected fetch: ${method} ${url} (no more expectations)`);
    if (next.method !== method || next.url !== url) {
      throw new Error(`Unexpected fetch: ${method} ${url}; expected ${next.method} ${next.url}`);
    }
    const body = toBytes(init.body);
    const request: RecordedRequest = {
      method,
      url,
      headers: Object.fromEntries(new Headers(init.headers).entries()),
      body,
      signal: init.signal ?? undefined,
      text: () => new TextDecoder().decode(body),
      json: () => JSON.parse(new TextDecoder().decode(body)) as unknown,
    };
    this.requests.push(request);
    if (request.signal?.aborted === true) throw request.signal.reason;
    return next.respond(request);
  };

  assertExhausted(): void {
    if (this.#expected.length > 0) {
      const left = this.#expected.map((e) => `${e.method} ${e.url}`).join(', ');
      throw new Error(`Expected fetch calls were not made: ${left}`);
    }
  }
}

function toBytes(body: RequestInit['body']): Uint8Array | undefined {
  if (body === undefined || body === null) return undefined;
  if (typeof body === 'string') return new TextEncoder().encode(body);
  if (body instanceof Uint8Array) return body;
  throw new Error('FakeFetch supports only string and Uint8Array bodies');
}

export function jsonResponse(status: number, body: unknown): Response {
  return new Response(JSON.stringify(body), { status, headers: { 'content-type': 'application/json' } });
}

/**
 * A streamed answer made of the given chunks, delivered one per read. With `signal`, the body
 * errors with the signal's reason when it aborts, as a real fetch body does; with `hold`, the
 * stream stays open after the chunks until aborted.
 */
export function streamResponse(chunks: (string | Uint8Array)[], options: { signal?: AbortSignal | undefined; hold?: boolean } = {}): Response {
  const queue = chunks.map((c) => (typeof c === 'string' ? new TextEncoder().encode(c) : c));
  const body = new ReadableStream<Uint8Array>({
    start(controller) {
      options.signal?.addEventListener('abort', () => controller.error(options.signal?.reason));
    },
    pull(controller) {
      const next = queue.shift();
      if (next !== undefined) controller.enqueue(next);
      else if (options.hold !== true) controller.close();
      else return new Promise(() => undefined);
      return undefined;
    },
  });
  return new Response(body, { status: 200, headers: { 'content-type': 'application/x-ndjson' } });
}

/** A running sandbox as the server describes it. */
export const INFO: SandboxInfo = {
  id: 'sb-aaaaaaaaaaaaaaaaaaaa',
  state: 'running',
  runtime: 'gvisor',
  image: 'default',
  imageId: 'default',
  diskMiB: 2048,
  cpu: 1,
  memoryMiB: 512,
  pids: 256,
  timeout: 3600,
  metadata: { team: 'ml' },
  envKeys: [],
  createdAt: '2025-01-01T00:00:00Z',
  startedAt: '2025-01-01T00:00:01Z',
  stoppedAt: null,
  expiresAt: null,
  stopReason: null,
  stopDetail: null,
  project: 'default',
  enforced: { pids: 512, hostPids: 8320, memoryMiB: 512, memoryOverheadMiB: 128, cpu: 1 },
  network: null,
  agent: { responsive: true, unresponsiveSince: null },
};
