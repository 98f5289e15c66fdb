/**
 * @module image-service
 * Local OCI images: pull, import, list, inspect, remove, prune, and the per-sandbox rootfs made
 * from them. It ties the registry client, the content store, the layer applier and the snapshotter
 * together and records images in the Store.
 *
 * Guarantees:
 * - Nothing unverified is used: every blob is checked against its digest while it streams, every
 *   unpacked layer against the DiffID in the image config; a failed pull removes what it added.
 * - Concurrent pulls of one reference share one download; layers shared between images are stored
 *   and unpacked once (by digest and ChainID).
 * - An image that a sandbox was created from cannot be removed; unused images go on `prune` and,
 *   least recently used first, when the store exceeds its size budget.
 */
import type { Releases } from '../sandbox/releases.js';
import { createReadStream, lstatSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { PassThrough, type Readable } from 'node:stream';
import { createGunzip } from 'node:zlib';
import { ErrorCode } from '@airlock/protocol/errors';
import { AirlockError } from '../errors.js';
import { filterThrough } from '../host/command.js';
import type { Logger } from '../log.js';
import type { ImageRecord, ImageLayerRecord, Store } from '../store/store.js';
import { ContentStore, DigestMismatchError } from './content-store.js';
import type { ImageProvider, PrepareOptions, PreparedRootfs } from './image.js';
import { LayerError, applyLayer, type AppliedLayer } from './layer-apply.js';
import {
  ImageConfigDocument,
  Index,
  Manifest,
  chainIds,
  imageInvalid,
  parseImageDocument,
  isIndex,
  layerCompression,
  runtimeConfigOf,
  selectPlatform,
  type Descriptor,
} from './manifest.js';
import { DIGEST, ReferenceError, formatReference, parseReference, repositoryName, type ImageReference } from './reference.js';
import type { RegistryClient } from './registry-client.js';
import { resolveParent } from './scoped-path.js';
import type { Snapshotter } from './snapshotter.js';

export interface PullProgress {
  phase: 'resolving' | 'downloading' | 'unpacking' | 'done';
  layersTotal: number;
  layersDone: number;
  bytesTotal: number;
  bytesDone: number;
}

export type ProgressListener = (p: PullProgress) => void;

/** Where an install reads blobs from: a registry, or an import's files. */
export interface BlobSource {
  open(digest: string): Promise<Readable>;
}

export interface ImageServiceDeps {
  store: Store;
  content: ContentStore;
  snapshotter: Snapshotter;
  registry: RegistryClient;
  log: Logger;
  /** Unused images are evicted (least recently used first) while the store holds more than this. */
  budgetBytes: number;
  /** Destroyed sandboxes whose rootfs is still being released; removal waits for them. */
  releases: Releases;
}

/** Files every sandbox rootfs has, so that runtimes bind-mount onto them instead of creating them. */
const AGENT_DIR = '.airlock';
const AGENT_FILES = ['agent', 'statx-compat.so'];

export class ImageService implements ImageProvider {
  readonly #d: ImageServiceDeps;
  readonly #pulls = new Map<string, { promise: Promise<ImageRecord>; listeners: Set<ProgressListener> }>();
  /** Blobs and layers an unfinished install relies on: garbage collection leaves them alone. */
  readonly #busy = new Map<string, number>();

  constructor(deps: ImageServiceDeps) {
    this.#d = deps;
  }

  has(ref: string): boolean {
    return ref !== 'default';
  }

  /** The local image a reference or id names, or undefined. */
  find(input: string): ImageRecord | undefined {
    const { store } = this.#d;
    if (DIGEST.test(input)) return store.getImage(input);
    let ref: ImageReference;
    try {
      ref = parseReference(input);
    } catch {
      return undefined;
    }
    if (ref.digest) {
      const image = store.getImage(ref.digest);
      return image && image.repository === repositoryName(ref) ? image : (store.imageByReference(formatReference(ref)) ?? image);
    }
    return store.imageByReference(formatReference(ref));
  }

  /** A local image, pulled first if it is not here yet. */
  async resolve(input: string): Promise<string> {
    return (this.find(input) ?? (await this.pull(input))).id;
  }

  /** Pulls a reference; a pull of the same reference already running is joined, not repeated. */
  pull(input: string, onProgress?: ProgressListener): Promise<ImageRecord> {
    let ref: ImageReference;
    try {
      ref = parseReference(input);
    } catch (e) {
      return Promise.reject(new AirlockError(ErrorCode.InvalidRequest, (e as ReferenceError).message));
    }
    const key = formatReference(ref);
    let job = this.#pulls.get(key);
    if (!job) {
      const listeners = new Set<ProgressListener>();
      const emit = (p: PullProgress) => listeners.forEach((l) => l(p));
      const promise = this.#pull(ref, emit).finally(() => this.#pulls.delete(key));
      job = { promise, listeners };
      this.#pulls.set(key, job);
    }
    if (onProgress) job.listeners.add(onProgress);
    return job.promise;
  }

  /**
   * Installs an image from a manifest whose blobs come from `source`: stores and verifies every
   * blob, unpacks the layers that are not unpacked yet, and records the image under `reference`.
   */
  async install(
    manifestBytes: Buffer,
    manifestDigest: string,
    repository: string,
    reference: string | undefined,
    source: BlobSource,
    emit: ProgressListener = () => {},
  ): Promise<ImageRecord> {
    const { content, snapshotter, store, log } = this.#d;
    const manifest = parseImageDocument(Manifest, manifestBytes, `manifest ${manifestDigest}`);
    if (manifest.layers.length === 0) throw imageInvalid(`image ${manifestDigest} has no layers`);
    for (const l of manifest.layers) {
      if (layerCompression(l.mediaType) === undefined) throw imageInvalid(`layer ${l.digest} has media type ${l.mediaType}, which Airlock cannot unpack`);
    }
    const added: string[] = [];
    const createdLayers: string[] = [];
    const hold = [manifestDigest, manifest.config.digest, ...manifest.layers.map((l) => l.digest)];
    this.#hold(hold, +1);
    try {
      await content.put(manifestDigest, manifestBytes);
      const fetchBlob = async (d: Descriptor, onBytes?: (n: number) => void) => {
        if (content.has(d.digest)) return;
        await content.ingest(d.digest, d.size, () => source.open(d.digest), onBytes);
        added.push(d.digest);
      };
      await fetchBlob(manifest.config);
      const configDoc = parseImageDocument(ImageConfigDocument, content.read(manifest.config.digest), `config ${manifest.config.digest}`);
      const diffIds = configDoc.rootfs.diff_ids;
      if (diffIds.length !== manifest.layers.length) {
        throw imageInvalid(`image ${manifestDigest}: its config lists ${diffIds.length} layers, its manifest ${manifest.layers.length}`);
      }
      const chains = chainIds(diffIds);
      this.#hold(chains, +1);
      try {
        const progress: PullProgress = {
          phase: 'downloading',
          layersTotal: manifest.layers.length,
          layersDone: 0,
          bytesTotal: manifest.layers.reduce((n, l) => n + l.size, 0),
          bytesDone: 0,
        };
        emit({ ...progress });
        let lastEmit = 0;
        const onBytes = (n: number) => {
          progress.bytesDone += n;
          const now = Date.now();
          if (now - lastEmit > 100) {
            lastEmit = now;
            emit({ ...progress });
          }
        };
        // The first layer to unpack streams: downloaded, verified and unpacked in one pass. The
        // layers above it download ahead into the content store (two at a time) meanwhile, and
        // each is unpacked from there once the layers below it are in.
        const needed = manifest.layers.map((l, i) => !snapshotter.hasLayer(chains[i]!) && !content.has(l.digest));
        const streamed = needed.indexOf(true);
        const downloads = limitConcurrency(
          manifest.layers.map((l, i) => async () => {
            if (!needed[i]) {
              progress.bytesDone += l.size;
              return;
            }
            if (i !== streamed) await fetchBlob(l, onBytes);
          }),
          2,
        );
        downloads.forEach((p) => p.catch(() => {}));
        let unpackedBytes = 0;
        for (let i = 0; i < manifest.layers.length; i++) {
          const layer = manifest.layers[i]!;
          const chain = chains[i]!;
          if (!snapshotter.hasLayer(chain)) {
            const stream = i === streamed && !content.busy(layer.digest);
            if (!stream) {
              await downloads[i];
              await fetchBlob(layer, onBytes); // joins a download another pull runs
            }
            progress.phase = stream ? 'downloading' : 'unpacking';
            await snapshotter.createLayer(chain, chains[i - 1], async (dir) => {
              const applied = stream
                ? (added.push(layer.digest), await this.#streamLayer(layer, source, dir, onBytes))
                : await applyLayer(decompress(layer, createReadStream(content.path(layer.digest))), dir);
              if (applied.diffId !== diffIds[i]) {
                throw imageInvalid(`layer ${layer.digest} unpacks to ${applied.diffId}, but the image config says ${diffIds[i]}`);
              }
              if (applied.skipped.length > 0) log.debug({ layer: layer.digest, skipped: applied.skipped.slice(0, 20) }, 'layer entries skipped');
              unpackedBytes += applied.bytes;
            });
            createdLayers.push(chain);
          }
          progress.layersDone++;
          emit({ ...progress });
        }
        await Promise.all(downloads);
        const now = new Date().toISOString();
        const layers: ImageLayerRecord[] = manifest.layers.map((l, i) => ({ digest: l.digest, mediaType: l.mediaType, size: l.size, diffId: diffIds[i]!, chainId: chains[i]! }));
        const previous = store.getImage(manifestDigest);
        const record: ImageRecord = {
          id: manifestDigest,
          repository,
          configDigest: manifest.config.digest,
          config: runtimeConfigOf(configDoc),
          layers,
          size: manifest.config.size + manifest.layers.reduce((n, l) => n + l.size, 0),
          unpackedBytes: previous?.unpackedBytes ?? unpackedBytes,
          createdAt: previous?.createdAt ?? now,
          lastUsedAt: now,
        };
        store.putImage(record, reference);
        emit({ ...progress, phase: 'done' });
        return record;
      } finally {
        this.#hold(chains, -1);
      }
    } catch (e) {
      // Leave nothing of a failed install: its blobs and layers, unless another image uses them.
      const mapped = mapInstallError(e);
      await this.#collect(new Set(added), new Set(createdLayers)).catch((err: unknown) => log.error({ err }, 'cleanup after a failed install'));
      // A full store frees lazily: wait, so that the next pull sees the space this one gave back.
      if (mapped instanceof AirlockError && mapped.code === ErrorCode.StorageFull) await snapshotter.reclaim().catch(() => {});
      throw mapped;
    } finally {
      this.#hold(hold, -1);
    }
  }

  /**
   * Keeps blobs and layers (by digest or chain id) from garbage collection until the returned
   * function is called: for a build, whose layers no image references until it finishes.
   */
  hold(keys: string[]): () => void {
    this.#hold(keys, +1);
    let released = false;
    return () => {
      if (!released) this.#hold(keys, -1);
      released = true;
    };
  }

  list(): (ImageRecord & { references: string[]; inUse: boolean })[] {
    const inUse = this.#d.store.imagesInUse();
    return this.#d.store.listImages().map((i) => ({ ...i, references: this.#d.store.referencesOf(i.id), inUse: inUse.has(i.id) }));
  }

  inspect(input: string): ImageRecord & { references: string[]; inUse: boolean } {
    const image = this.find(input);
    if (!image) throw new AirlockError(ErrorCode.ImageNotFound, `image ${JSON.stringify(input)} is not in the local store; pull or import it first`);
    return { ...image, references: this.#d.store.referencesOf(image.id), inUse: this.#d.store.imagesInUse().has(image.id) };
  }

  /** Removes an image and what only it used; refuses while a sandbox uses it. */
  async remove(input: string): Promise<ImageRecord> {
    const found = this.find(input);
    if (found) await this.#d.releases.settled(found.id);
    const image = this.inspect(input);
    if (image.inUse) {
      const users = this.#d.store.listSandboxes({}).filter((s) => s.imageId === image.id && s.state !== 'destroyed').map((s) => s.id);
      throw new AirlockError(ErrorCode.InvalidState, `image ${input} is in use by sandbox ${users.slice(0, 5).join(', ')}; destroy ${users.length > 1 ? 'them' : 'it'} first`);
    }
    this.#d.store.deleteImage(image.id);
    await this.#collect();
    return image;
  }

  /** Removes every image no sandbox uses, then every blob and layer no image references. */
  async prune(): Promise<{ removed: string[]; freedBytes: number }> {
    await this.#d.releases.settled();
    const before = await this.#storeBytes();
    const inUse = this.#d.store.imagesInUse();
    const removed: string[] = [];
    for (const image of this.#d.store.listImages()) {
      if (inUse.has(image.id) || this.#isHeld(image.id)) continue;
      this.#d.store.deleteImage(image.id);
      removed.push(image.id);
    }
    await this.#collect();
    await this.#d.snapshotter.reclaim();
    return { removed, freedBytes: Math.max(0, before - (await this.#storeBytes())) };
  }

  /** Evicts unused images, least recently used first, while the store is over its budget. */
  async enforceBudget(): Promise<string[]> {
    const evicted: string[] = [];
    let used = await this.#storeBytes();
    if (used <= this.#d.budgetBytes) return evicted;
    const inUse = this.#d.store.imagesInUse();
    const candidates = this.#d.store
      .listImages()
      .filter((i) => !inUse.has(i.id) && !this.#isHeld(i.id))
      .sort((a, b) => a.lastUsedAt.localeCompare(b.lastUsedAt));
    for (const image of candidates) {
      if (used <= this.#d.budgetBytes) break;
      this.#d.store.deleteImage(image.id);
      await this.#collect();
      evicted.push(image.id);
      used = await this.#storeBytes();
    }
    if (evicted.length > 0) this.#d.log.info({ evicted, usedBytes: used, budgetBytes: this.#d.budgetBytes }, 'image store over budget: evicted unused images');
    return evicted;
  }

  async prepare(imageId: string, sandboxId: string, opts: PrepareOptions): Promise<PreparedRootfs> {
    const image = this.#d.store.getImage(imageId);
    if (!image) throw new AirlockError(ErrorCode.ImageNotFound, `image ${imageId} is no longer in the local store`);
    this.#d.store.touchImage(image.id, new Date().toISOString());
    const top = image.layers[image.layers.length - 1]!.chainId;
    const rootfs = await this.#d.snapshotter.prepareRootfs(sandboxId, top, { diskBytes: opts.diskMiB * 1024 * 1024, idmap: opts.idmap });
    try {
      addAgentMountPoints(rootfs.hostPath);
    } catch (e) {
      await this.#d.snapshotter.releaseRootfs(sandboxId);
      throw new AirlockError(ErrorCode.ImageInvalid, `image ${imageId} cannot host the agent: ${(e as Error).message}`);
    }
    const c = image.config;
    return {
      rootfs: rootfs.path,
      readonly: false,
      mounts: [],
      defaults: { env: c.env.length > 0 ? c.env : ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'], user: c.user, cwd: c.workingDir, command: [...c.entrypoint, ...c.cmd] },
    };
  }

  preparedSandboxes(): string[] {
    return this.#d.snapshotter.listRootfs();
  }

  release(sandboxId: string): Promise<void> {
    return this.#d.snapshotter.releaseRootfs(sandboxId);
  }

  async close(): Promise<void> {
    await this.#d.snapshotter.close();
  }

  async #pull(ref: ImageReference, emit: ProgressListener): Promise<ImageRecord> {
    const { registry } = this.#d;
    emit({ phase: 'resolving', layersTotal: 0, layersDone: 0, bytesTotal: 0, bytesDone: 0 });
    let fetched = await registry.manifest(ref);
    if (isIndex(fetched.mediaType, fetched.json)) {
      const index = parseImageDocument(Index, fetched.bytes, `index of ${formatReference(ref)}`);
      const { chosen, offered } = selectPlatform(index);
      if (!chosen) throw imageInvalid(`image ${formatReference(ref)} has no linux/${process.arch === 'x64' ? 'amd64' : process.arch} variant (it offers ${offered.join(', ') || 'none'})`);
      fetched = await registry.manifest(ref, chosen.digest);
    }
    const reference = ref.tag !== undefined && ref.digest === undefined ? formatReference(ref) : `${repositoryName(ref)}@${ref.digest ?? fetched.digest}`;
    const image = await this.install(fetched.bytes, fetched.digest, repositoryName(ref), reference, { open: (d) => registry.blob(ref, d) }, emit);
    this.enforceBudget().catch((err: unknown) => this.#d.log.error({ err }, 'enforcing the image store budget failed'));
    return image;
  }

  /**
   * Downloads a layer into the content store and unpacks it into `dir` from the same bytes as they
   * arrive. The layer only counts once both finished: the blob's digest verified (else the caller
   * removes `dir`) and its DiffID checked by the caller.
   */
  async #streamLayer(layer: Descriptor, source: BlobSource, dir: string, onBytes: (n: number) => void): Promise<AppliedLayer> {
    const body = await source.open(layer.digest);
    const toStore = new PassThrough();
    const toUnpack = new PassThrough();
    body.on('error', (e) => {
      toStore.destroy(e);
      toUnpack.destroy(e);
    });
    body.pipe(toStore);
    body.pipe(toUnpack);
    const stored = this.#d.content.ingest(layer.digest, layer.size, async () => toStore, onBytes);
    const applied = applyLayer(decompress(layer, toUnpack), dir);
    stored.catch((e: unknown) => toUnpack.destroy(e as Error));
    applied.catch((e: unknown) => body.destroy(e as Error));
    // The digest verdict comes first: a corrupt blob also breaks decompression, and the digest is the clearer error.
    const [s, a] = await Promise.allSettled([stored, applied]);
    if (s.status === 'rejected') throw s.reason;
    if (a.status === 'rejected') throw a.reason;
    return a.value;
  }

  /** Deletes blobs and layers no image references (restricted to `blobs`/`layers` when given) and not held by an install. */
  async #collect(blobs?: Set<string>, layers?: Set<string>): Promise<void> {
    const { store, content, snapshotter } = this.#d;
    const keepBlobs = new Set<string>();
    const keepLayers = new Set<string>();
    for (const image of store.listImages()) {
      keepBlobs.add(image.id).add(image.configDigest);
      for (const l of image.layers) {
        keepBlobs.add(l.digest);
        keepLayers.add(l.chainId);
      }
    }
    for (const d of blobs ?? content.list()) if (!keepBlobs.has(d) && !this.#isHeld(d)) content.delete(d);
    // Children first: a layer is a snapshot of its parent, but btrfs snapshots are independent, so order is only tidiness.
    for (const c of layers ?? snapshotter.listLayers()) if (!keepLayers.has(c) && !this.#isHeld(c)) await snapshotter.removeLayer(c);
  }

  async #storeBytes(): Promise<number> {
    const { content, snapshotter } = this.#d;
    let blobs = 0;
    for (const d of content.list()) blobs += content.size(d);
    return blobs + (await snapshotter.usage()).usedBytes;
  }

  #hold(keys: string[], delta: number): void {
    for (const k of keys) {
      const n = (this.#busy.get(k) ?? 0) + delta;
      if (n <= 0) this.#busy.delete(k);
      else this.#busy.set(k, n);
    }
  }

  #isHeld(key: string): boolean {
    return this.#busy.has(key);
  }
}

/** The layer's tar, decompressed as its media type says. */
function decompress(layer: Descriptor, compressed: Readable): Readable {
  switch (layerCompression(layer.mediaType)) {
    case 'gzip': {
      const gunzip = createGunzip();
      compressed.on('error', (e) => gunzip.destroy(e));
      return compressed.pipe(gunzip);
    }
    case 'zstd':
      return filterThrough(['zstd', '-dcq'], compressed) as Readable;
    default:
      return compressed;
  }
}

/** The mount points the runtimes bind the agent onto, created through scoped paths (the image controls `/.airlock`). */
export function addAgentMountPoints(root: string): void {
  const dir = join(root, AGENT_DIR);
  const st = lstatSync(dir, { throwIfNoEntry: false });
  if (st && !st.isDirectory()) rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true, mode: 0o755 });
  for (const f of AGENT_FILES) {
    const { parent, name } = resolveParent(root, `${AGENT_DIR}/${f}`);
    const path = join(parent, name);
    if (!lstatSync(path, { throwIfNoEntry: false })?.isFile()) {
      rmSync(path, { recursive: true, force: true });
      writeFileSync(path, '', { mode: 0o755, flag: 'wx' });
    }
  }
}

function mapInstallError(e: unknown): unknown {
  if (e instanceof AirlockError) return e;
  if (e instanceof DigestMismatchError || e instanceof LayerError) return imageInvalid(e.message);
  const code = (e as NodeJS.ErrnoException).code;
  if (code === 'ENOSPC' || code === 'EDQUOT') return new AirlockError(ErrorCode.StorageFull, `the image store is full (${code}); prune unused images (airlock image prune) or enlarge the store`);
  if (code === 'ECONNRESET' || code === 'UND_ERR_SOCKET' || code === 'ETIMEDOUT') {
    return new AirlockError(ErrorCode.RegistryUnavailable, `the download broke off (${code}); retry the pull`);
  }
  if (typeof code === 'string' && code.startsWith('Z_')) return imageInvalid(`a layer is corrupt: ${(e as Error).message}`);
  if (e instanceof Error && /unexpected end|invalid tar|incorrect header|unexpected eof|zstd failed/i.test(e.message)) return imageInvalid(`a layer is corrupt or truncated: ${e.message}`);
  return e;
}

/** Starts every task with at most `n` running at once; returns their promises in order. */
function limitConcurrency<T>(tasks: (() => Promise<T>)[], n: number): Promise<T>[] {
  let next = 0;
  const results: Promise<T>[] = [];
  const gates: ((v: void) => void)[] = [];
  const slots: Promise<void>[] = [];
  for (let i = 0; i < tasks.length; i++) slots.push(new Promise<void>((r) => gates.push(r)));
  const start = () => {
    if (next < tasks.length) gates[next++]!();
  };
  for (let i = 0; i < tasks.length; i++) {
    results.push(slots[i]!.then(() => tasks[i]!()).finally(start));
  }
  for (let i = 0; i < Math.min(n, tasks.length); i++) start();
  return results;
}
