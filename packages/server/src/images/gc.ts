/**
 * @module gc
 * Removing images and what only they used: on request (remove, prune) and, least recently used
 * first, when the store exceeds its size budget. Nothing leased (leases.ts) or used by a sandbox
 * that still holds host resources is ever removed.
 */
import { ErrorCode } from '@airlock/protocol/errors';
import { AirlockError } from '../errors.js';
import type { Logger } from '../log.js';
import type { Releases } from '../sandbox/releases.js';
import { DEFAULT_PROJECT, type ImageRecord, type ImageStore, type SandboxStore } from '../store/store.js';
import type { ImageCatalog } from './catalog.js';
import type { ContentStore } from './content-store.js';
import type { Leases } from './leases.js';
import type { Snapshotter } from './snapshotter.js';

export interface ImageGcDeps {
  images: ImageStore;
  sandboxes: SandboxStore;
  catalog: ImageCatalog;
  content: ContentStore;
  snapshotter: Snapshotter;
  leases: Leases;
  /** Destroyed sandboxes whose rootfs is still being released; removal waits for them. */
  releases: Releases;
  /** Unused images are evicted (least recently used first) while the store holds more than this. */
  budgetBytes: number;
  log: Logger;
}

export class ImageGc {
  readonly #d: ImageGcDeps;

  constructor(deps: ImageGcDeps) {
    this.#d = deps;
  }

  /**
   * Removes an image (by id: every project's references to it go with it) and what only it used;
   * refuses while a sandbox of any project uses it. `label` is how the caller named it; the refusal
   * names only `project`'s sandboxes (another project's ids are not the caller's to learn).
   */
  async remove(imageId: string, label = imageId, project?: string): Promise<ImageRecord> {
    await this.#d.releases.settled(imageId);
    const image = await this.#d.catalog.inspect(DEFAULT_PROJECT, imageId, false);
    if (image.inUse || this.#d.leases.held(image.id)) {
      const holding = (await this.#d.sandboxes.holding()).filter((s) => s.imageId === image.id);
      const users = holding.filter((s) => project === undefined || s.project === project).map((s) => s.id);
      throw new AirlockError(
        ErrorCode.InvalidState,
        users.length > 0
          ? `image ${label} is in use by sandbox ${users.slice(0, 5).join(', ')}; destroy ${users.length > 1 ? 'them' : 'it'} first`
          : holding.length > 0
            ? `image ${label} is in use by a sandbox of another project`
            : `image ${label} is being used by a sandbox that is starting; retry in a moment`,
      );
    }
    await this.#d.images.delete(image.id);
    await this.collect();
    return image;
  }

  /** Removes every image no sandbox uses, then every blob and layer no image references. */
  async prune(): Promise<{ removed: string[]; freedBytes: number }> {
    await this.#d.releases.settled();
    const before = await this.storeBytes();
    const inUse = await this.#d.images.inUse();
    const removed: string[] = [];
    for (const image of await this.#d.images.list()) {
      if (inUse.has(image.id) || this.#d.leases.held(image.id)) continue;
      await this.#d.images.delete(image.id);
      removed.push(image.id);
    }
    await this.collect();
    await this.#d.snapshotter.reclaim();
    return { removed, freedBytes: Math.max(0, before - (await this.storeBytes())) };
  }

  /** Evicts unused images, least recently used first, while the store is over its budget. */
  async enforceBudget(): Promise<string[]> {
    const evicted: string[] = [];
    let used = await this.storeBytes();
    if (used <= this.#d.budgetBytes) return evicted;
    const inUse = await this.#d.images.inUse();
    const candidates = (await this.#d.images.list())
      .filter((i) => !inUse.has(i.id) && !this.#d.leases.held(i.id))
      .sort((a, b) => a.lastUsedAt.localeCompare(b.lastUsedAt));
    for (const image of candidates) {
      if (used <= this.#d.budgetBytes) break;
      await this.#d.images.delete(image.id);
      await this.collect();
      evicted.push(image.id);
      used = await this.storeBytes();
    }
    if (evicted.length > 0) this.#d.log.info({ evicted, usedBytes: used, budgetBytes: this.#d.budgetBytes }, 'image store over budget: evicted unused images');
    return evicted;
  }

  /** Deletes blobs and layers no image references (restricted to `blobs`/`layers` when given) and no lease holds. */
  async collect(blobs?: Set<string>, layers?: Set<string>): Promise<void> {
    const { images, content, snapshotter, leases } = this.#d;
    const keepBlobs = new Set<string>();
    const keepLayers = new Set<string>();
    for (const image of await images.list()) {
      keepBlobs.add(image.id).add(image.configDigest);
      for (const l of image.layers) {
        keepBlobs.add(l.digest);
        keepLayers.add(l.chainId);
      }
    }
    for (const d of blobs ?? content.list()) if (!keepBlobs.has(d) && !leases.held(d)) content.delete(d);
    for (const c of layers ?? snapshotter.listLayers()) if (!keepLayers.has(c) && !leases.held(c)) await snapshotter.removeLayer(c);
  }

  async storeBytes(): Promise<number> {
    const { content, snapshotter } = this.#d;
    let blobs = 0;
    for (const d of content.list()) blobs += content.size(d);
    return blobs + (await snapshotter.usage()).usedBytes;
  }
}
