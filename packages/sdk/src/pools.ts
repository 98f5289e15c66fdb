/**
 * @module pools
 * `PoolService` (`client.pools`): the server's warm pools, read-only (they are configured on the
 * server: `airlock serve --pool gvisor:4`).
 */
import type { PoolList } from '@airlock/protocol';
import type { HttpClient } from './http.js';

export class PoolService {
  readonly #http: HttpClient;

  constructor(http: HttpClient) {
    this.#http = http;
  }

  /** Per shape: configured size, sandboxes ready, hits, misses and refill time. */
  async list(params: { signal?: AbortSignal } = {}): Promise<PoolList> {
    return this.#http.json<PoolList>('GET', '/v1/pools', { signal: params.signal });
  }
}
