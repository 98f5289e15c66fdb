/**
 * @module sandboxes
 * `SandboxService` (`client.sandboxes`): create, find, list and destroy sandboxes.
 */
import type { CreateSandboxRequest, NetworkSettingsInput, Sandbox as SandboxInfo, SandboxList, SandboxState } from '@airlock/protocol';
import type { HttpClient } from './http.js';
import { Sandbox } from './sandbox.js';

/** The create body (every field optional; see docs/api.md) plus an abort signal. */
export type SandboxCreateParams = Omit<CreateSandboxRequest, 'network'> & {
  /** A network namespace with this egress policy (`{ egress: { allow: ['pypi.org'] } }`); without it, loopback only. */
  network?: NetworkSettingsInput;
  signal?: AbortSignal;
};

export interface SandboxListParams {
  /** Only sandboxes in this state. Without it, destroyed sandboxes are left out. */
  state?: SandboxState;
  /** Only sandboxes whose metadata has all of these key/value pairs. */
  labels?: Record<string, string>;
  signal?: AbortSignal;
}

export function buildCreateRequest(params: SandboxCreateParams = {}): Omit<CreateSandboxRequest, 'network'> & { network?: NetworkSettingsInput } {
  const { signal: _signal, ...body } = params;
  return body;
}

export function buildListQuery(params: SandboxListParams = {}): Record<string, string | string[] | undefined> {
  const labels = Object.entries(params.labels ?? {}).map(([k, v]) => `${k}=${v}`);
  return { state: params.state, label: labels.length > 0 ? labels : undefined };
}

export class SandboxService {
  readonly #http: HttpClient;

  constructor(http: HttpClient) {
    this.#http = http;
  }

  /** Creates a sandbox; it answers once the sandbox runs and can take an exec at once. */
  async create(params: SandboxCreateParams = {}): Promise<Sandbox> {
    const info = await this.#http.json<SandboxInfo>('POST', '/v1/sandboxes', {
      json: buildCreateRequest(params),
      signal: params.signal,
    });
    return new Sandbox(this.#http, info);
  }

  /** Throws `NotFoundError` for an unknown id. */
  async get(id: string, params: { signal?: AbortSignal } = {}): Promise<Sandbox> {
    const info = await this.#http.json<SandboxInfo>('GET', `/v1/sandboxes/${encodeURIComponent(id)}`, {
      signal: params.signal,
    });
    return new Sandbox(this.#http, info);
  }

  async list(params: SandboxListParams = {}): Promise<Sandbox[]> {
    const answer = await this.#http.json<SandboxList>('GET', '/v1/sandboxes', {
      query: buildListQuery(params),
      signal: params.signal,
    });
    return answer.sandboxes.map((info) => new Sandbox(this.#http, info));
  }

  /** Destroys a sandbox by id; destroying a destroyed one is not an error. */
  async destroy(id: string, params: { signal?: AbortSignal } = {}): Promise<void> {
    await this.#http.json<SandboxInfo>('DELETE', `/v1/sandboxes/${encodeURIComponent(id)}`, { signal: params.signal });
  }
}
