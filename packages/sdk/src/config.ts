/**
 * @module config
 * Resolves the client's settings once: explicit params, then the environment (`AIRLOCK_URL`,
 * `AIRLOCK_API_KEY`), then defaults. Nothing else in the SDK reads `process.env`.
 */
import { AuthenticationError, InvalidRequestError } from './errors.js';

export const DEFAULT_URL = 'http://127.0.0.1:7070';

export type FetchLike = (input: string, init: RequestInit) => Promise<Response>;

export interface AirlockParams {
  /** Base URL of the server. Default: `AIRLOCK_URL`, else `http://127.0.0.1:7070`. */
  url?: string;
  /** API key sent as `Authorization: Bearer`. Default: `AIRLOCK_API_KEY`. Required. */
  apiKey?: string;
  /** A `fetch` to use instead of the global one (tests, proxies, instrumentation). */
  fetch?: FetchLike;
  /**
   * Deadline for each request, in milliseconds. Unset: no client deadline. A buffered exec gets its
   * own `timeout` added; streamed execs are not limited (abort them with a `signal`).
   */
  timeoutMs?: number;
}

export interface ClientConfig {
  readonly url: string;
  readonly apiKey: string;
  readonly fetch: FetchLike;
  readonly timeoutMs: number | undefined;
}

type Env = Readonly<Record<string, string | undefined>>;

function processEnv(): Env {
  return typeof process === 'undefined' ? {} : process.env;
}

/**
 * Every route but health needs a key, so a client without one could do nothing useful: fail at
 * construction with a message that says where a key comes from, not at the first call.
 */
export function resolveConfig(params: AirlockParams = {}, env: Env = processEnv()): ClientConfig {
  const url = (params.url ?? nonEmpty(env['AIRLOCK_URL']) ?? DEFAULT_URL).replace(/\/+$/, '');
  try {
    const parsed = new URL(url);
    if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') throw new Error('not http(s)');
  } catch {
    throw new InvalidRequestError(`invalid Airlock URL ${JSON.stringify(url)}: expected http:// or https://`);
  }
  const apiKey = params.apiKey ?? nonEmpty(env['AIRLOCK_API_KEY']);
  if (apiKey === undefined || apiKey === '') {
    throw new AuthenticationError('no Airlock API key: pass { apiKey } or set AIRLOCK_API_KEY (a local server writes its key to <data-dir>/credentials.json)');
  }
  if (params.timeoutMs !== undefined && !(params.timeoutMs > 0)) {
    throw new InvalidRequestError(`timeoutMs must be a positive number, got ${params.timeoutMs}`);
  }
  const fetchImpl = params.fetch ?? ((input: string, init: RequestInit) => globalThis.fetch(input, init));
  return { url, apiKey, fetch: fetchImpl, timeoutMs: params.timeoutMs };
}

function nonEmpty(value: string | undefined): string | undefined {
  return value === undefined || value === '' ? undefined : value;
}
