/**
 * @module images
 * `ImageService` (`client.images`): pull (with progress), import, list, inspect, remove and prune
 * the server's local images.
 *
 * ```ts
 * const image = await airlock.images.pull('python:3.12-slim', {
 *   onProgress: (p) => console.log(p.phase, p.bytesDone, '/', p.bytesTotal),
 * });
 * const sb = await airlock.sandboxes.create({ image: 'python:3.12-slim', diskMiB: 1024 });
 * ```
 */
import type { Image, ImageList, ImportResult, PruneResult, PullEvent } from '@airlock/protocol';
import { errorFromBody } from './errors.js';
import { readLines } from './exec-stream.js';
import type { HttpClient } from './http.js';

export type PullProgress = Extract<PullEvent, { type: 'progress' }>;

export interface ImagePullParams {
  /** Called for each progress event (phase, layers and bytes done of total). */
  onProgress?: (progress: PullProgress) => void;
  signal?: AbortSignal;
}

const path = (image: string) => `/v1/images/${encodeURIComponent(image)}`;

export class ImageService {
  readonly #http: HttpClient;

  constructor(http: HttpClient) {
    this.#http = http;
  }

  /** Pulls a reference into the server's store; resolves with the image once it is unpacked. */
  async pull(reference: string, params: ImagePullParams = {}): Promise<Image> {
    const response = await this.#http.send('POST', '/v1/images/pull', { json: { reference }, signal: params.signal, timeoutMs: null });
    if (!response.body) throw errorFromBody(response.status, { message: 'the pull answered without a body' });
    for await (const line of readLines(response.body)) {
      if (line === '') continue;
      const event = JSON.parse(line) as PullEvent;
      if (event.type === 'progress') params.onProgress?.(event);
      else if (event.type === 'image') return event.image;
      else throw errorFromBody(undefined, event);
    }
    throw errorFromBody(undefined, { message: 'the pull stream ended without a result' });
  }

  /** Imports an OCI image layout or `docker save` archive (as tar bytes); `tag` names the image. */
  async import(archive: Uint8Array, params: { tag?: string; signal?: AbortSignal } = {}): Promise<Image[]> {
    const answer = await this.#http.json<ImportResult>('POST', '/v1/images/import', {
      bytes: archive,
      query: { tag: params.tag },
      signal: params.signal,
      timeoutMs: null,
    });
    return answer.images;
  }

  async list(params: { signal?: AbortSignal } = {}): Promise<Image[]> {
    return (await this.#http.json<ImageList>('GET', '/v1/images', { signal: params.signal })).images;
  }

  /** By id (sha256:…) or reference; throws an `image_not_found` error when the image is not local. */
  async get(image: string, params: { signal?: AbortSignal } = {}): Promise<Image> {
    return this.#http.json<Image>('GET', path(image), { signal: params.signal });
  }

  /** Refused (`invalid_state`) while a sandbox uses the image. */
  async remove(image: string, params: { signal?: AbortSignal } = {}): Promise<Image> {
    return this.#http.json<Image>('DELETE', path(image), { signal: params.signal });
  }

  /** Removes every image no sandbox uses. */
  async prune(params: { signal?: AbortSignal } = {}): Promise<PruneResult> {
    return this.#http.json<PruneResult>('POST', '/v1/images/prune', { signal: params.signal });
  }
}
