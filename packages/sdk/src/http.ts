/**
 * @module http
 * The one place the SDK talks HTTP: builds URLs, adds Bearer auth, sends JSON or raw bytes, and
 * turns every non-2xx answer and every network failure into a typed `AirlockError`.
 */
import type { ClientConfig } from './config.js';
import { AirlockError, ConnectionError, errorFromBody } from './errors.js';

export type Query = Record<string, string | readonly string[] | undefined>;

export interface RequestOptions {
  query?: Query | undefined;
  /** Sent as `application/json`. */
  json?: unknown;
  /** Sent as `application/octet-stream` (or `contentType`). */
  bytes?: Uint8Array | undefined;
  /** A body streamed as it is read (any size; memory stays flat). */
  stream?: ReadableStream<Uint8Array> | undefined;
  contentType?: string | undefined;
  /** The Accept header (a route that answers NDJSON or JSON by it). */
  accept?: string | undefined;
  signal?: AbortSignal | undefined;
  /** Overrides the client's deadline; `null` disables it (streams). */
  timeoutMs?: number | null | undefined;
  /** Added to the client's deadline, if it has one (a buffered exec adds its own timeout). */
  extraTimeoutMs?: number | undefined;
}

export class HttpClient {
  readonly #config: ClientConfig;

  constructor(config: ClientConfig) {
    this.#config = config;
  }

  get baseUrl(): string {
    return this.#config.url;
  }

  /** The key, for a WebSocket from Node (browsers use a ticket instead). */
  get apiKey(): string {
    return this.#config.apiKey;
  }

  url(path: string, query?: Query): string {
    const search = new URLSearchParams();
    for (const [key, value] of Object.entries(query ?? {})) {
      if (value === undefined) continue;
      for (const v of typeof value === 'string' ? [value] : value) search.append(key, v);
    }
    const qs = search.toString();
    return `${this.#config.url}${path}${qs === '' ? '' : `?${qs}`}`;
  }

  /** Sends the request and returns a 2xx response whose body is still unread. */
  async send(method: string, path: string, options: RequestOptions = {}): Promise<Response> {
    const url = this.url(path, options.query);
    const headers: Record<string, string> = { authorization: `Bearer ${this.#config.apiKey}` };
    if (options.accept !== undefined) headers.accept = options.accept;
    let body: string | Uint8Array | undefined;
    if (options.json !== undefined) {
      headers['content-type'] = 'application/json';
      body = JSON.stringify(options.json);
    } else if (options.bytes !== undefined) {
      headers['content-type'] = options.contentType ?? 'application/octet-stream';
      body = options.bytes;
    }
    const base = options.timeoutMs === undefined ? this.#config.timeoutMs : (options.timeoutMs ?? undefined);
    const deadline = base === undefined ? undefined : base + (options.extraTimeoutMs ?? 0);
    const timeout = deadline === undefined ? undefined : AbortSignal.timeout(deadline);
    const signals = [options.signal, timeout].filter((s): s is AbortSignal => s !== undefined);
    const init: RequestInit = { method, headers };
    if (body !== undefined) init.body = body;
    if (options.stream !== undefined) {
      headers['content-type'] = options.contentType ?? 'application/octet-stream';
      init.body = options.stream;
      (init as { duplex?: string }).duplex = 'half';
    }
    if (signals.length > 0) init.signal = signals.length === 1 ? signals[0]! : AbortSignal.any(signals);

    let response: Response;
    try {
      response = await this.#config.fetch(url, init);
    } catch (error) {
      throw this.networkError(error, `${method} ${url}`, options.signal, timeout, deadline);
    }
    if (response.ok) return response;
    throw await this.#errorFromResponse(response, url);
  }

  async json<T>(method: string, path: string, options?: RequestOptions): Promise<T> {
    const response = await this.send(method, path, options);
    const text = await this.#read(() => response.text(), `${method} ${path}`, options?.signal);
    try {
      return JSON.parse(text) as T;
    } catch {
      throw new AirlockError('internal', `${method} ${response.url || path}: the answer is not JSON`, {
        status: response.status,
      });
    }
  }

  async bytes(method: string, path: string, options?: RequestOptions): Promise<Uint8Array> {
    const response = await this.send(method, path, options);
    const buffer = await this.#read(() => response.arrayBuffer(), `${method} ${path}`, options?.signal);
    return new Uint8Array(buffer);
  }

  /**
   * Maps a rejected fetch or body read: the caller's own abort passes through unchanged (like
   * fetch), our deadline and network failures become a `ConnectionError` naming the URL.
   */
  networkError(error: unknown, what: string, signal: AbortSignal | undefined, timeout?: AbortSignal, deadline?: number): unknown {
    if (signal?.aborted === true || error instanceof AirlockError) return error;
    if (timeout?.aborted === true) return new ConnectionError(`${what} timed out after ${deadline} ms`, { cause: error });
    return new ConnectionError(`cannot reach the Airlock server at ${this.#config.url} (${what}): ${describe(error)}`, {
      cause: error,
    });
  }

  async #read<T>(read: () => Promise<T>, what: string, signal: AbortSignal | undefined): Promise<T> {
    try {
      return await read();
    } catch (error) {
      throw this.networkError(error, what, signal);
    }
  }

  async #errorFromResponse(response: Response, url: string): Promise<AirlockError> {
    let text = '';
    try {
      text = await response.text();
    } catch {
      // The status alone still makes a useful error; the body was only detail.
    }
    let body: unknown;
    try {
      body = JSON.parse(text);
    } catch {
      body = { message: `HTTP ${response.status} ${response.statusText} from ${url}`.trim() };
    }
    const retryAfter = Number(response.headers.get('retry-after') ?? 'NaN');
    return errorFromBody(response.status, body, Number.isFinite(retryAfter) && retryAfter >= 0 ? retryAfter : undefined);
  }
}

function describe(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  const cause = (error as { cause?: unknown }).cause;
  if (cause instanceof Error) {
    const code = (cause as { code?: unknown }).code;
    return typeof code === 'string' ? `${code} ${cause.message}` : cause.message;
  }
  return error.message;
}
