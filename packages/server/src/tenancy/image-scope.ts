/**
 * @module image-scope
 * Images per project: one shared content store, and a reference (a grant) per project that pulled,
 * imported or built an image. A project lists, inspects, uses, saves, pushes and removes only the
 * images it references (plus the built-in ones, which are not in the store); any other answers as
 * an image that is not there. References (tags) are per project too: a project's `myapp:latest`
 * names the image that project tagged, and another project tagging the same name never moves it;
 * a view shown to a project carries its own references only, and `inUse` counts its own sandboxes.
 * Removing drops the project's grant and references; the image itself goes only when no project
 * references it any more. An admin acts in its own project's references, and sees every image.
 */
import { ErrorCode } from '@airlock/protocol/errors';
import { AirlockError } from '../errors.js';
import type { ImageView } from '../images/catalog.js';
import type { ImageService } from '../images/image-service.js';
import type { ImageGrants, ImageRecord, ImageStore } from '../store/store.js';

export interface ImageActor {
  project: string;
  /** Admin keys see every project's images. */
  admin: boolean;
}

export class ImageScope {
  readonly #images: ImageService;
  readonly #grants: ImageGrants;
  readonly #store: ImageStore;

  constructor(images: ImageService, grants: ImageGrants, store: ImageStore) {
    this.#images = images;
    this.#grants = grants;
    this.#store = store;
  }

  grant(project: string, imageId: string): Promise<void> {
    return this.#grants.grant(project, imageId);
  }

  async visible(a: ImageActor, imageId: string): Promise<boolean> {
    return a.admin || this.#grants.has(a.project, imageId);
  }

  /** The local image the input names (an id, or the project's own reference) if this actor may see it. */
  async find(a: ImageActor, input: string): Promise<ImageRecord | undefined> {
    const found = await this.#images.find(a.project, input);
    return found && (await this.visible(a, found.id)) ? found : undefined;
  }

  /** The image as the actor sees it: a project its own references and use, an admin everyone's. */
  async inspect(a: ImageActor, input: string): Promise<ImageView> {
    const found = await this.find(a, input);
    if (!found) throw notLocal(input);
    return this.#images.catalog.view(found, a.admin ? undefined : a.project);
  }

  async list(a: ImageActor): Promise<ImageView[]> {
    if (a.admin) return this.#images.list();
    const all = await this.#images.list(a.project);
    const mine = await this.#grants.imagesOf(a.project);
    return all.filter((i) => mine.has(i.id));
  }

  /** Drops the project's grant and references; removes the image when nobody else references it. */
  async remove(a: ImageActor, input: string): Promise<ImageView> {
    const found = await this.find(a, input);
    if (!found) throw notLocal(input);
    if (a.admin && !(await this.#grants.has(a.project, found.id))) {
      const view = await this.#images.catalog.view(found);
      await this.#images.remove(found.id, input);
      return view;
    }
    // Another project's reference keeps the image: only this project's go.
    const view = await this.#images.catalog.view(found, a.project);
    const others = await this.#grants.ungrant(a.project, found.id);
    if (others > 0) return view;
    try {
      await this.#images.remove(found.id, input, a.project);
      return view;
    } catch (e) {
      // In use: the project's grant and references stay.
      await this.#grants.grant(a.project, found.id);
      for (const r of view.references) await this.#store.tag(a.project, r, found.id);
      throw e;
    }
  }

  /**
   * Before a create names an image: one that is local but not this project's is treated exactly as
   * one that is not local. It is pulled for the project, which succeeds only if its registry gives it
   * (anyone could pull that) and fails as for a missing image otherwise (another project's import or
   * build is never handed over); a pulled image becomes the project's. A reference is looked up
   * among the project's own only: another project's tag of the same name is not this project's.
   */
  async admit(a: ImageActor, input: string | undefined): Promise<void> {
    if (input === undefined) return;
    const found = await this.#images.find(a.project, input);
    if (!found || (await this.visible(a, found.id))) return;
    await this.#images.pull(a.project, input);
  }
}

function notLocal(input: string): AirlockError {
  return new AirlockError(ErrorCode.ImageNotFound, `image ${JSON.stringify(input)} is not in the local store; pull or import it first`);
}
