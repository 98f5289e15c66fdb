/**
 * @module leases
 * Leases in containerd's sense: a lease keeps blobs, layers and images from garbage collection
 * before anything durable references them — while an install writes them, and while a create holds
 * an image it resolved but has not yet recorded in a sandbox row.
 */
export interface Lease {
  release(): void;
}

export class Leases {
  readonly #held = new Map<string, number>();

  acquire(keys: readonly string[]): Lease {
    for (const k of keys) this.#held.set(k, (this.#held.get(k) ?? 0) + 1);
    let released = false;
    return {
      release: () => {
        if (released) return;
        released = true;
        for (const k of keys) {
          const n = (this.#held.get(k) ?? 1) - 1;
          if (n <= 0) this.#held.delete(k);
          else this.#held.set(k, n);
        }
      },
    };
  }

  held(key: string): boolean {
    return this.#held.has(key);
  }
}
