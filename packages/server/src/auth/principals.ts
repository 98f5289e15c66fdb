/**
 * @module principals
 * Who a request acts for: a key's id, project and role, and a signal that fires when the key stops
 * being valid. Revocation fires it, so every stream and WebSocket session a key opened ends at once
 * rather than at its next request; an expired key's signal fires at its expiry.
 */
import { verifyKey } from './api-keys.js';
import type { ApiKeyRecord, KeyRole, KeyStore } from '../store/store.js';

export interface Principal {
  keyId: string;
  project: string;
  role: KeyRole;
  /** Aborts when the key is revoked (or its project deleted) or expires. */
  signal: AbortSignal;
}

interface Tracked {
  controller: AbortController;
  timer: NodeJS.Timeout | undefined;
}

export class Principals {
  readonly #keys: KeyStore;
  /** One controller per key that authenticated since it was last revoked: bounded by the keys that exist. */
  readonly #live = new Map<string, Tracked>();

  constructor(keys: KeyStore) {
    this.#keys = keys;
  }

  async authenticate(presented: string): Promise<Principal | undefined> {
    const record = await verifyKey(this.#keys, presented);
    return record && this.#principal(record);
  }

  /** Ends everything the key opened; its next request is already refused by the store. */
  revoked(keyId: string): void {
    const t = this.#live.get(keyId);
    if (!t) return;
    this.#live.delete(keyId);
    clearTimeout(t.timer);
    t.controller.abort(new Error('the API key was revoked'));
  }

  close(): void {
    for (const id of [...this.#live.keys()]) this.revoked(id);
  }

  #principal(r: ApiKeyRecord): Principal {
    let t = this.#live.get(r.id);
    if (!t) {
      const controller = new AbortController();
      t = { controller, timer: undefined };
      if (r.expiresAt !== null) {
        // setTimeout takes at most 2^31-1 ms; a later expiry re-arms on the key's next request.
        const ms = Date.parse(r.expiresAt) - Date.now();
        if (ms < 2 ** 31 - 1) {
          t.timer = setTimeout(() => this.revoked(r.id), Math.max(0, ms));
          t.timer.unref();
        }
      }
      this.#live.set(r.id, t);
    }
    return { keyId: r.id, project: r.project, role: r.role, signal: t.controller.signal };
  }
}
