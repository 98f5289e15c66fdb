/**
 * @module pull
 * Pulling from a registry: resolve the reference (an index to this host's platform), then install.
 * Concurrent pulls of one reference share one job and its progress, whichever projects ask; each
 * project then gets its own reference (references are per project, the image is shared).
 */
import { ErrorCode } from '@airlock/protocol/errors';
import { AirlockError } from '../errors.js';
import type { Logger } from '../log.js';
import type { ImageRecord } from '../store/store.js';
import type { ImageGc } from './gc.js';
import type { Installer, ProgressListener, PullProgress } from './install.js';
import { Index, imageInvalid, isIndex, parseImageDocument, selectPlatform } from './manifest.js';
import { ReferenceError, formatReference, parseReference, repositoryName, type ImageReference } from './reference.js';
import type { RegistryClient } from './registry-client.js';

export interface PullerDeps {
  registry: RegistryClient;
  installer: Installer;
  gc: ImageGc;
  log: Logger;
  /** Points a project's reference at a stored image (and grants it); false if the image is gone. */
  tag(project: string, reference: string, imageId: string): Promise<boolean>;
}

export class Puller {
  readonly #d: PullerDeps;
  readonly #jobs = new Map<string, { promise: Promise<{ image: ImageRecord; reference: string }>; listeners: Set<ProgressListener> }>();

  constructor(deps: PullerDeps) {
    this.#d = deps;
  }

  pull(project: string, input: string, onProgress?: ProgressListener): Promise<ImageRecord> {
    return installThenTag(
      () => this.#join(input, onProgress),
      (reference, imageId) => this.#d.tag(project, reference, imageId),
      input,
    );
  }

  #join(input: string, onProgress?: ProgressListener): Promise<{ image: ImageRecord; reference: string }> {
    let ref: ImageReference;
    try {
      ref = parseReference(input);
    } catch (e) {
      return Promise.reject(new AirlockError(ErrorCode.InvalidRequest, (e as ReferenceError).message));
    }
    const key = formatReference(ref);
    let job = this.#jobs.get(key);
    if (!job) {
      const listeners = new Set<ProgressListener>();
      const emit = (p: PullProgress) => listeners.forEach((l) => l(p));
      const promise = this.#pull(ref, emit).finally(() => this.#jobs.delete(key));
      job = { promise, listeners };
      this.#jobs.set(key, job);
    }
    if (onProgress) job.listeners.add(onProgress);
    return job.promise;
  }

  async #pull(ref: ImageReference, emit: ProgressListener): Promise<{ image: ImageRecord; reference: string }> {
    emit({ phase: 'resolving', layersTotal: 0, layersDone: 0, bytesTotal: 0, bytesDone: 0 });
    const { registry, installer, gc, log } = this.#d;
    let fetched = await registry.manifest(ref);
    if (isIndex(fetched.mediaType, fetched.json)) {
      const index = parseImageDocument(Index, fetched.bytes, `index of ${formatReference(ref)}`);
      const { chosen, offered } = selectPlatform(index);
      if (!chosen)
        throw imageInvalid(
          `image ${formatReference(ref)} has no linux/${process.arch === 'x64' ? 'amd64' : process.arch} variant (it offers ${offered.join(', ') || 'none'})`,
        );
      fetched = await registry.manifest(ref, chosen.digest);
    }
    const reference = ref.tag !== undefined && ref.digest === undefined ? formatReference(ref) : `${repositoryName(ref)}@${ref.digest ?? fetched.digest}`;
    const image = await installer.install(
      fetched.bytes,
      fetched.digest,
      repositoryName(ref),
      undefined,
      { open: (d, signal) => registry.blob(ref, d, signal) },
      emit,
    );
    gc.enforceBudget().catch((err: unknown) => log.error({ err }, 'enforcing the image store budget failed'));
    return { image, reference };
  }
}

/**
 * Installs an image and points the project's reference at it. An eviction between the two (the
 * store over its budget) leaves nothing to tag, so it installs once more; a second eviction is the
 * store being too small for the image, and the pull fails with that rather than answer with an image
 * the project holds no reference to.
 */
export async function installThenTag(
  install: () => Promise<{ image: ImageRecord; reference: string }>,
  tag: (reference: string, imageId: string) => Promise<boolean>,
  input: string,
): Promise<ImageRecord> {
  for (let attempt = 0; attempt < 2; attempt++) {
    const { image, reference } = await install();
    if (await tag(reference, image.id)) return image;
  }
  throw new AirlockError(
    ErrorCode.StorageFull,
    `${input} was evicted from the image store twice before it could be tagged: the store is over its budget (images.budgetBytes); prune unused images or raise the budget`,
  );
}
