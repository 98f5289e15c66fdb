/**
 * @module network
 * `sandbox.network` (its egress policy, changed at run time, and the egress audit) and
 * `sandbox.ports` (URLs of the ports a process in the sandbox listens on).
 */
import type { NetworkDetails, NetworkEventList, NetworkSettingsInput } from '@airlock/protocol';
import type { HttpClient } from './http.js';

export class SandboxNetwork {
  readonly #http: HttpClient;
  readonly #path: string;

  constructor(http: HttpClient, sandboxId: string) {
    this.#http = http;
    this.#path = `/v1/sandboxes/${encodeURIComponent(sandboxId)}/network`;
  }

  /** The settings in force, the sandbox's address and its ports token. */
  async get(params: { signal?: AbortSignal } = {}): Promise<NetworkDetails> {
    return this.#http.json<NetworkDetails>('GET', this.#path, { signal: params.signal });
  }

  /**
   * Replaces the settings (policy, peers, bandwidth cap; one left out takes its default) without a
   * restart. A rejected update (`InvalidRequestError` naming the entry) leaves the previous ones in force.
   */
  async update(settings: NetworkSettingsInput, params: { signal?: AbortSignal } = {}): Promise<NetworkDetails> {
    return this.#http.json<NetworkDetails>('PUT', this.#path, { json: settings, signal: params.signal });
  }

  /** The egress audit: DNS questions and connection attempts with their verdicts (from `since`). */
  async events(params: { since?: number; signal?: AbortSignal } = {}): Promise<NetworkEventList> {
    return this.#http.json<NetworkEventList>('GET', `${this.#path}/events`, {
      query: { since: params.since === undefined ? undefined : String(params.since) },
      signal: params.signal,
    });
  }
}

export class SandboxPorts {
  readonly #network: SandboxNetwork;
  readonly #http: HttpClient;
  readonly #id: string;

  constructor(http: HttpClient, sandboxId: string, network: SandboxNetwork) {
    this.#http = http;
    this.#id = sandboxId;
    this.#network = network;
  }

  /** A URL that reaches `port` inside the sandbox (HTTP and WebSocket), carrying its ports token unless the ports are public. */
  async url(port: number, params: { path?: string; signal?: AbortSignal } = {}): Promise<string> {
    const n = await this.#network.get({ ...(params.signal ? { signal: params.signal } : {}) });
    const path = (params.path ?? '/').replace(/^\/?/, '/');
    const base = `${this.#http.baseUrl}/v1/sandboxes/${encodeURIComponent(this.#id)}/ports/${port}${path}`;
    return n.publicPorts ? base : `${base}${base.includes('?') ? '&' : '?'}airlock_token=${encodeURIComponent(n.portsToken)}`;
  }
}
