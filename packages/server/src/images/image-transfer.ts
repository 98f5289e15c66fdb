/**
 * @module image-transfer
 * Moving a local image out: push to a registry (registry-push.ts) and save as an OCI layout tar
 * (image-save.ts), of an image the caller looked up in its project (with that project's references).
 */
import type { Readable } from 'node:stream';
import { ErrorCode } from '@airlock/protocol/errors';
import { AirlockError } from '../errors.js';
import { DEFAULT_PROJECT } from '../store/store.js';
import type { ImageView } from './catalog.js';
import type { ContentStore } from './content-store.js';
import type { ImageService } from './image-service.js';
import { saveImage } from './image-save.js';
import type { RegistryClient } from './registry-client.js';
import { pushImage, type PushAction } from './registry-push.js';

export class ImageTransfer {
  constructor(
    private readonly images: ImageService,
    private readonly content: ContentStore,
    private readonly registry: RegistryClient,
  ) {}

  /** Pushes `found` to `target` (default: its first reference). */
  async push(
    found: ImageView,
    target: string | undefined,
    onBlob?: (digest: string, size: number, action: PushAction) => void,
  ): Promise<{ reference: string; digest: string }> {
    const to = target ?? found.references.find((r) => !r.includes('@'));
    if (to === undefined) throw this.#noTarget(found.id);
    const lease = this.images.leases.acquire([found.id, found.configDigest, ...found.layers.map((l) => l.digest)]);
    try {
      // Looked up before the stream started: it may have been removed since.
      if (!(await this.images.catalog.find(DEFAULT_PROJECT, found.id)))
        throw new AirlockError(ErrorCode.ImageNotFound, `image ${found.id} is no longer in the local store`);
      return await pushImage(this.registry, this.content, found, found.references, to, onBlob ? { onBlob } : {});
    } finally {
      lease.release();
    }
  }

  /** The image as an OCI image layout tar. */
  async save(found: ImageView): Promise<Readable> {
    const lease = this.images.leases.acquire([found.id, found.configDigest, ...found.layers.map((l) => l.digest)]);
    const stream = saveImage(this.content, found, found.references);
    stream.once('close', () => lease.release());
    return stream;
  }

  #noTarget(image: string): AirlockError {
    return new AirlockError(ErrorCode.InvalidRequest, `image ${image} has no tag to push to; name the reference to push it as`);
  }
}
