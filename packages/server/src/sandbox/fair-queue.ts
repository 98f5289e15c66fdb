/**
 * @module fair-queue
 * Fair shares of the host's create work between projects: at most `concurrency` creates do their
 * host-side work (rootfs, runtime start, agent handshake) at once, and those waiting are served one
 * per project in turn, each project's own in arrival order. A project that floods creates waits
 * behind its own backlog.
 *
 * Beyond that, `reserve` slots are kept for projects with no create running: such a project starts
 * one at once even while another project's flood holds every regular slot. Without them a quiet
 * project's create waited for a flooding project's create to finish first, a whole create's time
 * on a loaded host. A project takes at most one reserve slot (it has a create running after that),
 * and never more than `concurrency + reserve` run in all.
 * Pure logic (no host effects), so its fairness is tested without a runtime.
 */
export class FairQueue {
  readonly #concurrency: number;
  readonly #reserve: number;
  /** Waiters per project, each project's in arrival order. */
  readonly #waiting = new Map<string, (() => void)[]>();
  /** When each project with work here (waiting or running) last got a slot: the least recent goes next. */
  readonly #served = new Map<string, { at: number; running: number }>();
  #clock = 0;
  #active = 0;

  constructor(concurrency: number, reserve = 0) {
    if (!Number.isInteger(concurrency) || concurrency < 1) throw new Error(`concurrency must be a positive integer, not ${concurrency}`);
    if (!Number.isInteger(reserve) || reserve < 0) throw new Error(`reserve must be a non-negative integer, not ${reserve}`);
    this.#concurrency = concurrency;
    this.#reserve = reserve;
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
    const regular = this.#active < this.#concurrency && this.#waiting.size === 0;
    // A reserve slot: the project has nothing running and nothing waiting (it would pass its own backlog).
    const reserved = !regular && this.#idle(project) && !this.#waiting.has(project) && this.#active < this.#concurrency + this.#reserve;
    if (regular || reserved) {
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
      this.#active--;
      this.#next();
    }
  }

  #idle(project: string): boolean {
    return (this.#served.get(project)?.running ?? 0) === 0;
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

  /**
   * Fills free slots from the waiting projects, least recently served first (never served: first):
   * regular slots for any of them, reserve slots only for one with nothing running.
   */
  #next(): void {
    for (;;) {
      const regular = this.#active < this.#concurrency;
      if (!regular && this.#active >= this.#concurrency + this.#reserve) return;
      let pick: string | undefined;
      let pickAt = Infinity;
      for (const project of this.#waiting.keys()) {
        if (!regular && !this.#idle(project)) continue;
        const at = this.#served.get(project)?.at ?? 0;
        if (at < pickAt) [pick, pickAt] = [project, at];
      }
      if (pick === undefined) return;
      const q = this.#waiting.get(pick)!;
      const resolve = q.shift()!;
      if (q.length === 0) this.#waiting.delete(pick);
      this.#active++;
      this.#start(pick);
      resolve();
    }
  }
}
