/**
 * @module releases
 * Host resources of destroyed sandboxes still being released in the background (asynchronous
 * destroy). Shared by the sandbox service, which starts releases, and the image service, which waits
 * for those of an image before removing it. The durable record is the store's `releasePending`
 * flag; this is only what the running server has in flight.
 */
export class Releases {
  readonly #pending = new Map<string, { imageId: string; done: Promise<void> }>();

  track(id: string, imageId: string, work: Promise<void>): void {
    const done = work.finally(() => {
      if (this.#pending.get(id)?.done === done) this.#pending.delete(id);
    });
    this.#pending.set(id, { imageId, done });
  }

  get size(): number {
    return this.#pending.size;
  }

  /** Resolves once every release in flight (of one image, if given) has finished or failed. */
  async settled(imageId?: string): Promise<void> {
    const waits = [...this.#pending.values()].filter((p) => imageId === undefined || p.imageId === imageId).map((p) => p.done);
    await Promise.allSettled(waits);
  }
}
