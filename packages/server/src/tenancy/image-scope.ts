/**
 * @module image-scope
 * Images per project: one shared content store, and a reference (a grant) per project that pulled,
 * imported or built an image. A project lists, inspects, uses, saves, pushes and removes only the
 * images it references (plus the built-in ones, which are not in the store); any other answers as
 * an image that is not there. Removing drops the project's reference; the image itself goes only
 * when no project references it any more.
 */
import { ErrorCode } from '@airlock/protocol/errors';
import { AirlockError } from '../errors.js';
import type { ImageView } from '../images/catalog.js';
import type { ImageService } from '../images/image-service.js';
import type { ImageGrants, ImageRecord } from '../store/store.js';

export interface ImageActor {
  project: string;
  /** Admin keys see every project's images. */
  admin: boolean;
}

export class ImageScope {
  readonly #images: ImageService;
  readonly #grants: ImageGrants;

  constructor(images: ImageService, grants: ImageGrants) {
    this.#images = images;
    this.#grants = grants;
  }

  grant(project: string, imageId: string): Promise<void> {
    return this.#grants.grant(project, imageId);
  }

  async visible(a: ImageActor, imageId: string): Promise<boolean> {
    return a.admin || this.#grants.has(a.project, imageId);
  }

  /** The local image the input names if this actor may see it; undefined as for one not there. */
  async find(a: ImageActor, input: string): Promise<ImageRecord | undefined> {
    const found = await this.#images.find(input);
    return found && (await this.visible(a, found.id)) ? found : undefined;
  }

  async inspect(a: ImageActor, input: string): Promise<ImageView> {
    if (!(await this.find(a, input))) throw notLocal(input);
    return this.#images.inspect(input);
  }

  async list(a: ImageActor): Promise<ImageView[]> {
    const all = await this.#images.list();
    if (a.admin) return all;
    const mine = await this.#grants.imagesOf(a.project);
    return all.filter((i) => mine.has(i.id));
  }

  /** Drops the project's reference; removes the image when nobody else references it. */
  async remove(a: ImageActor, input: string): Promise<ImageRecord> {
    const found = await this.find(a, input);
    if (!found) throw notLocal(input);
    if (a.admin && !(await this.#grants.has(a.project, found.id))) return this.#images.remove(input);
    // Another project's reference keeps the image: only this project's goes.
    const view = await this.#images.inspect(input);
    const others = await this.#grants.ungrant(a.project, found.id);
    if (others > 0) return view;
    try {
      return await this.#images.remove(input);
    } catch (e) {
      await this.#grants.grant(a.project, found.id); // in use: the reference stays
      throw e;
    }
  }

  /**
   * Before a create names an image: one that is local but not this project's is refused as if it
   * were not there (no pull could have given it to this project: it may be another's build or
   * import). One that is not local at all is pulled by the create, and granted after it.
   */
  async checkUse(a: ImageActor, input: string | undefined): Promise<void> {
    if (input === undefined) return;
    const found = await this.#images.find(input);
    if (found && !(await this.visible(a, found.id))) throw notLocal(input);
  }
}

function notLocal(input: string): AirlockError {
  return new AirlockError(ErrorCode.ImageNotFound, `image ${JSON.stringify(input)} is not in the local store; pull or import it first`);
}
