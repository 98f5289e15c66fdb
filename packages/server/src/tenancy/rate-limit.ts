/**
 * @module rate-limit
 * Requests per key: a token bucket each, in memory (a restart refills them). A key over its rate is
 * refused with `rate_limited` and a Retry-After; a flood from one key costs other keys nothing.
 */
import { ErrorCode } from '@airlock/protocol/errors';
import { AirlockError } from '../errors.js';

const MAX_BUCKETS = 100_000;

export class KeyRateLimiter {
  readonly #perSecond: number;
  readonly #burst: number;
  readonly #buckets = new Map<string, { tokens: number; at: number }>();

  constructor(rate: { perSecond: number; burst: number }) {
    this.#perSecond = rate.perSecond;
    this.#burst = rate.burst;
  }

  take(keyId: string, now = performance.now()): void {
    let b = this.#buckets.get(keyId);
    if (!b) {
      if (this.#buckets.size >= MAX_BUCKETS) this.#buckets.delete(this.#buckets.keys().next().value!);
      b = { tokens: this.#burst, at: now };
      this.#buckets.set(keyId, b);
    }
    b.tokens = Math.min(this.#burst, b.tokens + ((now - b.at) / 1000) * this.#perSecond);
    b.at = now;
    if (b.tokens < 1) {
      const wait = Math.max(1, Math.ceil((1 - b.tokens) / this.#perSecond));
      throw new AirlockError(
        ErrorCode.RateLimited,
        `this key is over its rate of ${this.#perSecond} requests per second (burst ${this.#burst}); retry after ${wait} s`,
        { retryAfterSeconds: wait },
      );
    }
    b.tokens -= 1;
  }
}
