/**
 * @module observe
 * What the server tells about itself: `client.events` (the project's lifecycle events over SSE,
 * resumed by id after a dropped connection), `client.webhooks`, and a sandbox's stats
 * (`sandbox.stats()`, `sandbox.statsStream()`).
 */
import type { EventType, LifecycleEvent, SandboxStats, Webhook, WebhookDelivery } from '@airlock/protocol';
import { ConnectionError } from './errors.js';
import type { HttpClient } from './http.js';

export interface EventStreamParams {
  /** Resume after this event id (what `event.id` said); default: only events from now on. */
  after?: string | undefined;
  types?: EventType[] | undefined;
  sandbox?: string | undefined;
  signal?: AbortSignal | undefined;
  /** Reconnect (from the last id seen) when the connection drops; default true. */
  reconnect?: boolean | undefined;
}

export class EventService {
  readonly #http: HttpClient;

  constructor(http: HttpClient) {
    this.#http = http;
  }

  /** Lifecycle events of the key's project, as they happen, until `signal` aborts. */
  async *stream(params: EventStreamParams = {}): AsyncGenerator<LifecycleEvent> {
    let last = params.after;
    for (let failures = 0; ;) {
      const query = {
        ...(last !== undefined ? { since: last } : {}),
        ...(params.types ? { types: params.types.join(',') } : {}),
        ...(params.sandbox ? { sandbox: params.sandbox } : {}),
      };
      let res: Response;
      try {
        res = await this.#http.send('GET', '/v1/events', { query, signal: params.signal, timeoutMs: null });
      } catch (e) {
        if (params.signal?.aborted || params.reconnect === false || !(e instanceof ConnectionError) || ++failures > 5) throw e;
        await new Promise((r) => setTimeout(r, 500 * failures));
        continue;
      }
      try {
        for await (const e of parseSse(res.body!)) {
          failures = 0;
          last = e.id;
          yield e;
        }
      } catch (e) {
        if (params.signal?.aborted) return;
        if (params.reconnect === false) throw e;
      }
      // The connection dropped: a reconnect resumes after the last event seen (before the first
      // one, it can only ask for what happens from then on).
      if (params.signal?.aborted || params.reconnect === false) return;
    }
  }
}

async function* parseSse(body: ReadableStream<Uint8Array>): AsyncGenerator<LifecycleEvent> {
  const dec = new TextDecoder();
  let buf = '';
  for await (const chunk of body as unknown as AsyncIterable<Uint8Array>) {
    buf += dec.decode(chunk, { stream: true });
    for (let end = buf.indexOf('\n\n'); end >= 0; end = buf.indexOf('\n\n')) {
      const block = buf.slice(0, end);
      buf = buf.slice(end + 2);
      const data = block
        .split('\n')
        .filter((l) => l.startsWith('data:'))
        .map((l) => l.slice(5).trimStart())
        .join('\n');
      if (data !== '') yield JSON.parse(data) as LifecycleEvent;
    }
  }
}

export class WebhookService {
  readonly #http: HttpClient;

  constructor(http: HttpClient) {
    this.#http = http;
  }

  /** Registers a webhook; the answer carries its signing secret, which is never shown again. */
  create(params: { url: string; types?: EventType[]; signal?: AbortSignal }): Promise<Webhook & { secret: string }> {
    return this.#http.json('POST', '/v1/webhooks', { json: { url: params.url, ...(params.types ? { types: params.types } : {}) }, signal: params.signal });
  }

  async list(params: { signal?: AbortSignal } = {}): Promise<Webhook[]> {
    return (await this.#http.json<{ webhooks: Webhook[] }>('GET', '/v1/webhooks', { signal: params.signal })).webhooks;
  }

  async delete(id: string, params: { signal?: AbortSignal } = {}): Promise<void> {
    await this.#http.send('DELETE', `/v1/webhooks/${encodeURIComponent(id)}`, { signal: params.signal });
  }

  async deliveries(id: string, params: { limit?: number; signal?: AbortSignal } = {}): Promise<WebhookDelivery[]> {
    const query = params.limit !== undefined ? { limit: String(params.limit) } : {};
    return (
      await this.#http.json<{ deliveries: WebhookDelivery[] }>('GET', `/v1/webhooks/${encodeURIComponent(id)}/deliveries`, { query, signal: params.signal })
    ).deliveries;
  }
}

export class SandboxStatsReader {
  readonly #http: HttpClient;
  readonly #id: string;

  constructor(http: HttpClient, id: string) {
    this.#http = http;
    this.#id = id;
  }

  read(params: { signal?: AbortSignal } = {}): Promise<SandboxStats> {
    return this.#http.json<SandboxStats>('GET', `/v1/sandboxes/${encodeURIComponent(this.#id)}/stats`, { signal: params.signal });
  }

  /** A sample every `intervalSeconds` (default 1) until the sandbox stops or `signal` aborts. */
  async *stream(params: { intervalSeconds?: number; signal?: AbortSignal } = {}): AsyncGenerator<SandboxStats> {
    const query = { follow: '1', interval: String(params.intervalSeconds ?? 1) };
    const res = await this.#http.send('GET', `/v1/sandboxes/${encodeURIComponent(this.#id)}/stats`, { query, signal: params.signal, timeoutMs: null });
    const dec = new TextDecoder();
    let buf = '';
    try {
      for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
        buf += dec.decode(chunk, { stream: true });
        for (let nl = buf.indexOf('\n'); nl >= 0; nl = buf.indexOf('\n')) {
          const line = buf.slice(0, nl);
          buf = buf.slice(nl + 1);
          if (line !== '') yield JSON.parse(line) as SandboxStats;
        }
      }
    } catch (e) {
      if (!params.signal?.aborted) throw e;
    }
  }
}
