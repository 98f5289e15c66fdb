/**
 * @module warm-pools
 * Started sandboxes kept ready per shape (runtime, image, cpu, memory, disk), so that a create of
 * that shape costs a store update instead of a runtime start. This module only decides: which pool
 * to refill next, within the refill budget, and what to count. Starting and destroying sandboxes is
 * the sandbox service's, through the two callbacks.
 *
 * Invariants:
 * - take() is synchronous, so two creates can never be handed the same sandbox.
 * - At most `refillConcurrency` refills run at once, and a create never waits for one.
 * - After close() no refill starts, and every sandbox still waiting (or still starting) is discarded.
 * - No room is not a failure: a pool at the server's limit refills as soon as a release makes room
 *   (and rechecks every ROOM_RECHECK_MS, for room made another way), however long the limit held.
 *   Backing off exponentially from it left a pool empty for up to 30 s after the load went.
 */
import type { PoolStatus } from '@airlock/protocol';
import type { PoolConfig } from '../config.js';
import type { Logger } from '../log.js';

export interface PoolShape {
  runtime: PoolConfig['runtime'];
  image: string;
  cpu: number;
  memoryMiB: number;
  diskMiB: number;
}

export function shapeKey(s: PoolShape): string {
  return `${s.runtime}|${s.image}|${s.cpu}|${s.memoryMiB}|${s.diskMiB}`;
}

export interface WarmPoolsDeps {
  shapes: PoolConfig[];
  refillConcurrency: number;
  /**
   * How long a refill waits after a take. On a small machine a refill (a runtime start) competes for
   * the cores with the first command of the sandbox just handed out; waiting lets that command run first.
   */
  refillDelayMs: number;
  /** Starts one sandbox of the shape into the pool; resolves with its id once its agent answered. */
  fill(shape: PoolConfig, key: string): Promise<string>;
  /** Destroys a pooled sandbox that will never be handed out. */
  discard(id: string): Promise<void>;
  /** Why no sandbox of this shape can be started (its runtime is missing), or undefined. Polled with backoff. */
  unavailable(shape: PoolConfig): string | undefined;
  /**
   * Why the server has no room for a pooled sandbox now (at its sandbox limit, or a create is waiting
   * for room), or undefined. Room comes back with a release, which calls refill().
   */
  noRoom(): string | undefined;
  log: Logger;
}

interface Pool {
  shape: PoolConfig;
  ready: string[];
  starting: number;
  hits: number;
  misses: number;
  refills: number;
  refillFailures: number;
  /** The last refill durations, for the median. */
  refillMs: number[];
  lastError: string | null;
  /** No refill before this time (ms since epoch): backs off after failures. */
  retryAt: number;
  failuresInARow: number;
}

const KEEP_DURATIONS = 50;
const MAX_BACKOFF_MS = 30_000;
const ROOM_RECHECK_MS = 1_000;

export class WarmPools {
  readonly #d: WarmPoolsDeps;
  readonly #pools = new Map<string, Pool>();
  readonly #inflight = new Set<Promise<void>>();
  #running = 0;
  /** Refills wait for start(): reconciliation must not see sandboxes half-started by a refill. */
  #started = false;
  #closed = false;
  readonly #timers = new Set<NodeJS.Timeout>();
  #delayed: NodeJS.Timeout | undefined;
  #roomRecheck: NodeJS.Timeout | undefined;

  constructor(deps: WarmPoolsDeps) {
    this.#d = deps;
    for (const shape of deps.shapes) {
      this.#pools.set(shapeKey(shape), {
        shape,
        ready: [],
        starting: 0,
        hits: 0,
        misses: 0,
        refills: 0,
        refillFailures: 0,
        refillMs: [],
        lastError: null,
        retryAt: 0,
        failuresInARow: 0,
      });
    }
  }

  has(key: string): boolean {
    return this.#pools.has(key);
  }

  /** Pops a waiting sandbox of this shape (the caller checks it still runs) and schedules the refill. */
  take(key: string): string | undefined {
    const pool = this.#pools.get(key);
    const id = pool?.ready.shift();
    if (this.#d.refillDelayMs <= 0) this.refill();
    else if (this.#delayed === undefined) {
      this.#delayed = setTimeout(() => {
        this.#delayed = undefined;
        this.refill();
      }, this.#d.refillDelayMs);
      this.#delayed.unref();
    }
    return id;
  }

  count(key: string, hit: boolean): void {
    const pool = this.#pools.get(key);
    if (!pool) return;
    if (hit) pool.hits++;
    else pool.misses++;
  }

  /** A pooled sandbox died or was removed while waiting: it is no longer ready. */
  forget(id: string): void {
    for (const pool of this.#pools.values()) {
      const i = pool.ready.indexOf(id);
      if (i >= 0) pool.ready.splice(i, 1);
    }
    this.refill();
  }

  /** Makes room for a create at capacity: discards one waiting sandbox (from the fullest pool). */
  async evictOne(): Promise<boolean> {
    const fullest = [...this.#pools.values()].sort((a, b) => b.ready.length - a.ready.length)[0];
    const id = fullest?.ready.pop();
    if (id === undefined) return false;
    await this.#d.discard(id);
    return true;
  }

  start(): void {
    this.#started = true;
    this.refill();
  }

  /** Starts refills while some pool is short and the budget allows; never waits for them. */
  refill(): void {
    if (this.#closed || !this.#started) return;
    const now = Date.now();
    while (this.#running < this.#d.refillConcurrency) {
      const pool = this.#next(now);
      if (!pool) break;
      const unavailable = this.#d.unavailable(pool.shape);
      if (unavailable !== undefined) {
        pool.lastError = unavailable;
        this.#backOff(pool);
        continue;
      }
      // The server's room is every pool's: none can start until a release, so stop looking.
      const noRoom = this.#d.noRoom();
      if (noRoom !== undefined) {
        pool.lastError = noRoom;
        this.#recheckRoom();
        break;
      }
      this.#running++;
      pool.starting++;
      const t0 = performance.now();
      const p = this.#d
        .fill(pool.shape, shapeKey(pool.shape))
        .then(
          async (id) => {
            pool.refills++;
            pool.refillMs.push(performance.now() - t0);
            if (pool.refillMs.length > KEEP_DURATIONS) pool.refillMs.shift();
            pool.failuresInARow = 0;
            if (this.#closed) await this.#d.discard(id);
            else pool.ready.push(id);
          },
          (err: unknown) => {
            pool.refillFailures++;
            pool.lastError = err instanceof Error ? err.message : String(err);
            this.#backOff(pool);
            this.#d.log.warn({ err, pool: shapeKey(pool.shape) }, 'warm pool refill failed');
          },
        )
        .catch((err: unknown) => this.#d.log.error({ err }, 'discarding a pooled sandbox failed'))
        .finally(() => {
          pool.starting--;
          this.#running--;
          this.#inflight.delete(p);
          this.refill();
        });
      this.#inflight.add(p);
    }
  }

  status(): PoolStatus[] {
    return [...this.#pools.values()].map((p) => {
      const sorted = [...p.refillMs].sort((a, b) => a - b);
      const round = (ms: number | undefined) => (ms === undefined ? null : Math.round(ms * 10) / 10);
      return {
        runtime: p.shape.runtime,
        image: p.shape.image,
        cpu: p.shape.cpu,
        memoryMiB: p.shape.memoryMiB,
        diskMiB: p.shape.diskMiB,
        size: p.shape.size,
        ready: p.ready.length,
        starting: p.starting,
        hits: p.hits,
        misses: p.misses,
        refills: p.refills,
        refillFailures: p.refillFailures,
        refillMs: { last: round(p.refillMs.at(-1)), p50: round(sorted[Math.floor((sorted.length - 1) / 2)]) },
        lastError: p.lastError,
      };
    });
  }

  /** Stops refilling, waits for refills in flight and discards every sandbox still waiting. */
  async close(): Promise<void> {
    this.#closed = true;
    for (const t of this.#timers) clearTimeout(t);
    clearTimeout(this.#delayed);
    clearTimeout(this.#roomRecheck);
    while (this.#inflight.size > 0) await Promise.allSettled([...this.#inflight]);
    const ids = [...this.#pools.values()].flatMap((p) => p.ready.splice(0));
    await Promise.all(
      ids.map((id) => this.#d.discard(id).catch((err: unknown) => this.#d.log.error({ err, sandbox: id }, 'discarding a pooled sandbox failed'))),
    );
  }

  /** The pool furthest below its size that is not backing off. */
  #next(now: number): Pool | undefined {
    let best: Pool | undefined;
    let bestShort = 0;
    for (const p of this.#pools.values()) {
      const short = p.shape.size - p.ready.length - p.starting;
      if (short > bestShort && p.retryAt <= now) {
        best = p;
        bestShort = short;
      }
    }
    return best;
  }

  #recheckRoom(): void {
    if (this.#roomRecheck !== undefined) return;
    this.#roomRecheck = setTimeout(() => {
      this.#roomRecheck = undefined;
      this.refill();
    }, ROOM_RECHECK_MS);
    this.#roomRecheck.unref();
  }

  #backOff(pool: Pool): void {
    pool.failuresInARow++;
    const delay = Math.min(MAX_BACKOFF_MS, 500 * 2 ** (pool.failuresInARow - 1));
    pool.retryAt = Date.now() + delay;
    const timer = setTimeout(() => {
      this.#timers.delete(timer);
      this.refill();
    }, delay);
    timer.unref();
    this.#timers.add(timer);
  }
}
