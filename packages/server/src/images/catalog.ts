/**
 * @module catalog
 * Looking images up: by id (a manifest digest) or by any reference form users type, and the views
 * the API lists (with their references and whether a sandbox uses them).
 */
import { ErrorCode } from '@airlock/protocol/errors';
import { AirlockError } from '../errors.js';
import type { ImageRecord, ImageStore } from '../store/store.js';
import { DIGEST, formatReference, parseReference, repositoryName, type ImageReference } from './reference.js';

export type ImageView = ImageRecord & { references: string[]; inUse: boolean };

export class ImageCatalog {
  readonly #store: ImageStore;

  constructor(store: ImageStore) {
    this.#store = store;
  }

  /** The local image a reference or id names, or undefined. */
  async find(input: string): Promise<ImageRecord | undefined> {
    if (DIGEST.test(input)) return this.#store.get(input);
    let ref: ImageReference;
    try {
      ref = parseReference(input);
    } catch {
      return undefined;
    }
    if (ref.digest) {
      const image = await this.#store.get(ref.digest);
      return image && image.repository === repositoryName(ref) ? image : ((await this.#store.byReference(formatReference(ref))) ?? image);
    }
    return this.#store.byReference(formatReference(ref));
  }

  async list(): Promise<ImageView[]> {
    const inUse = await this.#store.inUse();
    const images = await this.#store.list();
    return Promise.all(images.map(async (i) => ({ ...i, references: await this.#store.referencesOf(i.id), inUse: inUse.has(i.id) })));
  }

  /** A record as the API lists it: with its references and whether a sandbox uses it. */
  async view(image: ImageRecord): Promise<ImageView> {
    return { ...image, references: await this.#store.referencesOf(image.id), inUse: (await this.#store.inUse()).has(image.id) };
  }

  async inspect(input: string): Promise<ImageView> {
    const image = await this.find(input);
    if (!image) throw new AirlockError(ErrorCode.ImageNotFound, `image ${JSON.stringify(input)} is not in the local store; pull or import it first`);
    return { ...image, references: await this.#store.referencesOf(image.id), inUse: (await this.#store.inUse()).has(image.id) };
  }
}
