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
import type { BuildEvent, Image, ImageList, ImportResult, PruneResult, PullEvent, PushEvent } from '@airlock/protocol';
import type { Image as ImageRecipe } from './image-recipe.js';
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

export interface ImageBuildParams {
  /** The Dockerfile as text or as a recipe (`Image.from(…)…`); otherwise `dockerfilePath` in the context. */
  dockerfile?: string | ImageRecipe;
  /** Path of the Dockerfile inside the context (default `Dockerfile`). */
  dockerfilePath?: string;
  /** The context: a directory (Node; `.dockerignore` applies) or a tar archive's bytes. Default: empty. */
  context?: string | Uint8Array;
  tags?: string[];
  buildArgs?: Record<string, string>;
  target?: string;
  runtime?: 'gvisor' | 'runc';
  /** Domains RUN steps may reach (refused by servers without network policies). */
  allow?: string[];
  compression?: 'gzip' | 'zstd';
  noCache?: boolean;
  /** Seconds each RUN step may take. */
  timeout?: number;
  /** Each event of the build: steps, their output, layers (cached or not). */
  onEvent?: (event: Exclude<BuildEvent, { type: 'image' | 'error' }>) => void;
  signal?: AbortSignal;
}

export type ImagePushEvent = Extract<PushEvent, { type: 'blob' }>;

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

  /**
   * Builds an image from a Dockerfile on the server; every RUN step runs in a sandbox. Resolves
   * with the image; a failing step rejects with a `build_failed` error (its exit code and last
   * output). Aborting `signal` cancels the build, which then leaves nothing behind.
   */
  async build(params: ImageBuildParams): Promise<Image> {
    let tar: Uint8Array;
    let dockerfile = params.dockerfilePath;
    const text = typeof params.dockerfile === 'string' ? params.dockerfile : params.dockerfile?.toDockerfile();
    if (params.context instanceof Uint8Array && text === undefined) {
      tar = params.context;
    } else {
      if (params.context instanceof Uint8Array) throw new TypeError('give a Dockerfile inside the context tar (dockerfilePath), or a directory as the context');
      const { packContext } = await import('./build-context.js');
      const packed = await packContext(params.context, {
        ...(text !== undefined ? { dockerfile: text } : {}),
        ...(dockerfile ? { dockerfilePath: dockerfile } : {}),
      });
      tar = packed.tar;
      dockerfile = packed.dockerfile;
    }
    const query = {
      dockerfile,
      tag: params.tags,
      buildArg: params.buildArgs && Object.entries(params.buildArgs).map(([k, v]) => `${k}=${v}`),
      target: params.target,
      runtime: params.runtime,
      allow: params.allow,
      compression: params.compression,
      noCache: params.noCache === undefined ? undefined : String(params.noCache),
      timeout: params.timeout === undefined ? undefined : String(params.timeout),
    };
    const response = await this.#http.send('POST', '/v1/images/build', { bytes: tar, query, signal: params.signal, timeoutMs: null });
    if (!response.body) throw errorFromBody(response.status, { message: 'the build answered without a body' });
    for await (const line of readLines(response.body)) {
      if (line === '') continue;
      const event = JSON.parse(line) as BuildEvent;
      if (event.type === 'image') return event.image;
      if (event.type === 'error') throw errorFromBody(undefined, event);
      params.onEvent?.(event);
    }
    throw errorFromBody(undefined, { message: 'the build stream ended without a result' });
  }

  /** Cancels a running build by the id its `build` event carried. */
  async cancelBuild(id: string, params: { signal?: AbortSignal } = {}): Promise<void> {
    await this.#http.json('DELETE', `/v1/images/builds/${encodeURIComponent(id)}`, { signal: params.signal });
  }

  /** Pushes a local image to a registry (`reference`, default: its own tag). */
  async push(
    image: string,
    params: { reference?: string; onBlob?: (e: ImagePushEvent) => void; signal?: AbortSignal } = {},
  ): Promise<{ reference: string; digest: string }> {
    const response = await this.#http.send('POST', '/v1/images/push', {
      json: { image, ...(params.reference ? { reference: params.reference } : {}) },
      signal: params.signal,
      timeoutMs: null,
    });
    if (!response.body) throw errorFromBody(response.status, { message: 'the push answered without a body' });
    for await (const line of readLines(response.body)) {
      if (line === '') continue;
      const event = JSON.parse(line) as PushEvent;
      if (event.type === 'blob') params.onBlob?.(event);
      else if (event.type === 'pushed') return { reference: event.reference, digest: event.digest };
      else throw errorFromBody(undefined, event);
    }
    throw errorFromBody(undefined, { message: 'the push stream ended without a result' });
  }

  /** The image as an OCI image layout tar (what `import` and skopeo's `oci-archive:` read). */
  async save(image: string, params: { signal?: AbortSignal } = {}): Promise<Uint8Array> {
    return this.#http.bytes('GET', `${path(image)}/save`, { signal: params.signal, timeoutMs: null });
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
