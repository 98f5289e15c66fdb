/**
 * @module fair-queue
 * Fair shares of the host's create work between projects: at most `concurrency` creates do their
 * host-side work (rootfs, runtime start, agent handshake) at once, and those waiting are served one
 * per project in turn, each project's own in arrival order. A project that floods creates waits
 * behind its own backlog; another project's create waits for at most one turn of each busy project.
 * Pure logic (no host effects), so its fairness is tested without a runtime.
 */
export class FairQueue {
  readonly #concurrency: number;
  /** Waiters per project, each project's in arrival order. */
  readonly #waiting = new Map<string, (() => void)[]>();
  /** When each project with work here (waiting or running) last got a slot: the least recent goes next. */
  readonly #served = new Map<string, { at: number; running: number }>();
  #clock = 0;
  #active = 0;

  constructor(concurrency: number) {
    if (!Number.isInteger(concurrency) || concurrency < 1) throw new Error(`concurrency must be a positive integer, not ${concurrency}`);
    this.#concurrency = concurrency;
  }

  get active(): number {
    return this.#active;
  }

  /** Creates waiting for their turn, over all projects. */
  get waiting(): number {
    let n = 0;
    for (const q of this.#waiting.values()) n += q.length;
    return n;
  }

  /** Runs `work` for `project` when its turn comes; its slot is given back however it ends. */
  async run<T>(project: string, work: () => Promise<T>): Promise<T> {
    if (this.#active < this.#concurrency && this.#waiting.size === 0) {
      this.#active++;
      this.#start(project);
    } else {
      await new Promise<void>((resolve) => {
        const q = this.#waiting.get(project);
        if (q) q.push(resolve);
        else this.#waiting.set(project, [resolve]);
      });
    }
    try {
      return await work();
    } finally {
      this.#end(project);
      this.#next();
    }
  }

  #start(project: string): void {
    const s = this.#served.get(project) ?? { at: 0, running: 0 };
    s.at = ++this.#clock;
    s.running++;
    this.#served.set(project, s);
  }

  #end(project: string): void {
    const s = this.#served.get(project)!;
    s.running--;
    if (s.running === 0 && !this.#waiting.has(project)) this.#served.delete(project);
  }

  /** Hands the finished slot to the waiting project served least recently (never served: first). */
  #next(): void {
    let pick: string | undefined;
    let pickAt = Infinity;
    for (const project of this.#waiting.keys()) {
      const at = this.#served.get(project)?.at ?? 0;
      if (at < pickAt) [pick, pickAt] = [project, at];
    }
    if (pick === undefined) {
      this.#active--;
      return;
    }
    const q = this.#waiting.get(pick)!;
    const resolve = q.shift()!;
    if (q.length === 0) this.#waiting.delete(pick);
    this.#start(pick);
    resolve(); // the slot passes on: #active stays
  }
}
