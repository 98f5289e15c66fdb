/**
 * @module timeouts
 * Sandbox expiry: one timer for the earliest deadline, fed from a min-heap of the running sandboxes
 * that have one, so a thousand idle sandboxes cost nothing per second. At start the heap is loaded
 * with one query; creates and claims add to it, destroys leave stale entries that are skipped.
 */
export interface ExpiryDeps {
  /** Called for each sandbox whose deadline passed; it re-checks the store before destroying. */
  expire(id: string): void;
}

interface Entry {
  id: string;
  at: number;
}

/** The longest single setTimeout Node accepts; later deadlines re-arm. */
const MAX_DELAY_MS = 2 ** 31 - 1;

export class ExpiryTimers {
  readonly #d: ExpiryDeps;
  readonly #heap: Entry[] = [];
  /** The current deadline of each id; entries in the heap that disagree are stale. */
  readonly #current = new Map<string, number>();
  #timer: NodeJS.Timeout | undefined;
  #armedFor = Infinity;
  #closed = false;

  constructor(deps: ExpiryDeps) {
    this.#d = deps;
  }

  /** Sets (or moves) the sandbox's deadline. */
  set(id: string, expiresAt: string): void {
    const at = Date.parse(expiresAt);
    if (!Number.isFinite(at)) return;
    this.#current.set(id, at);
    this.#push({ id, at });
    this.#arm();
  }

  clear(id: string): void {
    this.#current.delete(id);
  }

  get size(): number {
    return this.#current.size;
  }

  close(): void {
    this.#closed = true;
    clearTimeout(this.#timer);
  }

  #arm(): void {
    if (this.#closed) return;
    const top = this.#heap[0];
    if (!top || top.at >= this.#armedFor) return;
    clearTimeout(this.#timer);
    this.#armedFor = top.at;
    this.#timer = setTimeout(() => this.#fire(), Math.min(MAX_DELAY_MS, Math.max(0, top.at - Date.now())));
    this.#timer.unref();
  }

  #fire(): void {
    this.#armedFor = Infinity;
    const now = Date.now();
    while (this.#heap.length > 0 && this.#heap[0]!.at <= now) {
      const e = this.#pop()!;
      if (this.#current.get(e.id) !== e.at) continue; // moved or cleared
      this.#current.delete(e.id);
      this.#d.expire(e.id);
    }
    this.#arm();
  }

  #push(e: Entry): void {
    const h = this.#heap;
    h.push(e);
    for (let i = h.length - 1; i > 0;) {
      const p = (i - 1) >> 1;
      if (h[p]!.at <= h[i]!.at) break;
      [h[p], h[i]] = [h[i]!, h[p]!];
      i = p;
    }
  }

  #pop(): Entry | undefined {
    const h = this.#heap;
    const top = h[0];
    const last = h.pop();
    if (h.length > 0 && last) {
      h[0] = last;
      for (let i = 0; ;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < h.length && h[l]!.at < h[m]!.at) m = l;
        if (r < h.length && h[r]!.at < h[m]!.at) m = r;
        if (m === i) break;
        [h[m], h[i]] = [h[i]!, h[m]!];
        i = m;
      }
    }
    return top;
  }
}
