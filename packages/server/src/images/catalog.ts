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

/**
 * References are per project: a lookup by reference names the project whose tags it reads, and a
 * view shown to a project carries that project's references and whether its sandboxes use the
 * image (without a project: every project's, for admins).
 */
export class ImageCatalog {
  readonly #store: ImageStore;

  constructor(store: ImageStore) {
    this.#store = store;
  }

  /** The local image an id, or one of the project's references, names; or undefined. */
  async find(project: string, input: string): Promise<ImageRecord | undefined> {
    if (DIGEST.test(input)) return this.#store.get(input);
    let ref: ImageReference;
    try {
      ref = parseReference(input);
    } catch {
      return undefined;
    }
    if (ref.digest) {
      const image = await this.#store.get(ref.digest);
      return image && image.repository === repositoryName(ref) ? image : ((await this.#store.byReference(project, formatReference(ref))) ?? image);
    }
    return this.#store.byReference(project, formatReference(ref));
  }

  async list(project?: string): Promise<ImageView[]> {
    const inUse = await this.#store.inUse(project);
    const images = await this.#store.list();
    return Promise.all(images.map(async (i) => ({ ...i, references: await this.#store.referencesOf(i.id, project), inUse: inUse.has(i.id) })));
  }

  /** A record as the API lists it: with its references and whether a sandbox uses it. */
  async view(image: ImageRecord, project?: string): Promise<ImageView> {
    return { ...image, references: await this.#store.referencesOf(image.id, project), inUse: (await this.#store.inUse(project)).has(image.id) };
  }

  /** The view of what `input` names in `project`; `scoped` false shows every project's references and use. */
  async inspect(project: string, input: string, scoped = true): Promise<ImageView> {
    const image = await this.find(project, input);
    if (!image) throw new AirlockError(ErrorCode.ImageNotFound, `image ${JSON.stringify(input)} is not in the local store; pull or import it first`);
    return this.view(image, scoped ? project : undefined);
  }
}
