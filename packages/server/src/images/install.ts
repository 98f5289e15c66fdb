/**
 * @module install
 * Installing an image from its manifest and a source of blobs (a registry, an import): every blob
 * stored and verified by digest, the layers that are not unpacked yet unpacked (each checked
 * against its DiffID), and the image recorded for its owner (a project, and that project's reference).
 *
 * The first layer to unpack streams: downloaded, verified and unpacked in one pass, while the layers
 * above it download ahead (two at a time) into the content store and are unpacked from there once
 * the layers below them are in. A failure cancels every download of the install, waits for them to
 * stop, then removes what the install added (unless another image uses it): nothing lands after the
 * cleanup.
 */
import { createReadStream } from 'node:fs';
import { PassThrough, type Readable } from 'node:stream';
import { ErrorCode } from '@airlock/protocol/errors';
import { AirlockError, isStorageFull } from '../errors.js';
import { decompressed } from '../host/codec.js';
import type { Logger } from '../log.js';
import { DEFAULT_PROJECT, type ImageLayerRecord, type ImageOwner, type ImageRecord, type ImageStore } from '../store/store.js';
import { ContentStore, DigestMismatchError } from './content-store.js';
import type { ImageGc } from './gc.js';
import { LayerError, applyLayer, type AppliedLayer } from './layer-apply.js';
import type { Leases } from './leases.js';
import { ImageConfigDocument, Manifest, chainIds, imageInvalid, layerCompression, parseImageDocument, runtimeConfigOf, type Descriptor } from './manifest.js';
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
  open(digest: string, signal: AbortSignal): Promise<Readable>;
}

export interface InstallerDeps {
  images: ImageStore;
  content: ContentStore;
  snapshotter: Snapshotter;
  leases: Leases;
  gc: ImageGc;
  log: Logger;
}

export class Installer {
  readonly #d: InstallerDeps;

  constructor(deps: InstallerDeps) {
    this.#d = deps;
  }

  async install(
    manifestBytes: Buffer,
    manifestDigest: string,
    repository: string,
    owner: ImageOwner | undefined,
    source: BlobSource,
    emit: ProgressListener = () => {},
  ): Promise<ImageRecord> {
    const { content, snapshotter, images, log, leases } = this.#d;
    const manifest = parseImageDocument(Manifest, manifestBytes, `manifest ${manifestDigest}`);
    if (manifest.layers.length === 0) throw imageInvalid(`image ${manifestDigest} has no layers`);
    for (const l of manifest.layers) {
      if (layerCompression(l.mediaType) === undefined) throw imageInvalid(`layer ${l.digest} has media type ${l.mediaType}, which Airlock cannot unpack`);
    }
    const added: string[] = [];
    const createdLayers: string[] = [];
    const cancel = new AbortController();
    let downloads: Promise<void>[] = [];
    const lease = leases.acquire([manifestDigest, manifest.config.digest, ...manifest.layers.map((l) => l.digest)]);
    let chainLease: { release(): void } | undefined;
    try {
      await content.put(manifestDigest, manifestBytes);
      const fetchBlob = async (d: Descriptor, onBytes?: (n: number) => void) => {
        if (content.has(d.digest)) return;
        cancel.signal.throwIfAborted();
        await content.ingest(d.digest, d.size, () => source.open(d.digest, cancel.signal), onBytes);
        added.push(d.digest);
      };
      await fetchBlob(manifest.config);
      const configDoc = parseImageDocument(ImageConfigDocument, content.read(manifest.config.digest), `config ${manifest.config.digest}`);
      const diffIds = configDoc.rootfs.diff_ids;
      if (diffIds.length !== manifest.layers.length) {
        throw imageInvalid(`image ${manifestDigest}: its config lists ${diffIds.length} layers, its manifest ${manifest.layers.length}`);
      }
      const chains = chainIds(diffIds);
      chainLease = leases.acquire(chains);
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
      const needed = manifest.layers.map((l, i) => !snapshotter.hasLayer(chains[i]!) && !content.has(l.digest));
      const streamed = needed.indexOf(true);
      downloads = limitConcurrency(
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
              ? (added.push(layer.digest), await this.#streamLayer(layer, source, cancel.signal, dir, onBytes, owner?.project))
              : await applyLayer(decompress(layer, createReadStream(content.path(layer.digest)), owner?.project), dir);
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
      const layers: ImageLayerRecord[] = manifest.layers.map((l, i) => ({
        digest: l.digest,
        mediaType: l.mediaType,
        size: l.size,
        diffId: diffIds[i]!,
        chainId: chains[i]!,
      }));
      const previous = await images.get(manifestDigest);
      const record: ImageRecord = {
        id: manifestDigest,
        project: previous?.project ?? owner?.project ?? DEFAULT_PROJECT,
        repository,
        configDigest: manifest.config.digest,
        config: runtimeConfigOf(configDoc),
        layers,
        size: manifest.config.size + manifest.layers.reduce((n, l) => n + l.size, 0),
        unpackedBytes: previous?.unpackedBytes ?? unpackedBytes,
        createdAt: previous?.createdAt ?? now,
        lastUsedAt: now,
      };
      await images.put(record, owner);
      emit({ ...progress, phase: 'done' });
      return record;
    } catch (e) {
      // Stop the siblings first, so that none of them adds a blob after the cleanup below.
      cancel.abort();
      await Promise.allSettled(downloads);
      const mapped = mapInstallError(e);
      await this.#d.gc.collect(new Set(added), new Set(createdLayers)).catch((err: unknown) => log.error({ err }, 'cleanup after a failed install failed'));
      // A full store frees lazily: wait, so that the next pull sees the space this one gave back.
      if (mapped instanceof AirlockError && mapped.code === ErrorCode.StorageFull) {
        await snapshotter.reclaim().catch((err: unknown) => log.warn({ err }, 'waiting for the store to reclaim space failed'));
      }
      throw mapped;
    } finally {
      chainLease?.release();
      lease.release();
    }
  }

  /**
   * Downloads a layer into the content store and unpacks it into `dir` from the same bytes as they
   * arrive. The layer only counts once both finished: the blob's digest verified (else the caller
   * removes `dir`) and its DiffID checked by the caller.
   */
  async #streamLayer(
    layer: Descriptor,
    source: BlobSource,
    signal: AbortSignal,
    dir: string,
    onBytes: (n: number) => void,
    project: string | undefined,
  ): Promise<AppliedLayer> {
    const body = await source.open(layer.digest, signal);
    const toStore = new PassThrough();
    const toUnpack = new PassThrough();
    body.on('error', (e) => {
      toStore.destroy(e);
      toUnpack.destroy(e);
    });
    body.pipe(toStore);
    body.pipe(toUnpack);
    const stored = this.#d.content.ingest(layer.digest, layer.size, async () => toStore, onBytes);
    const applied = applyLayer(decompress(layer, toUnpack, project), dir);
    stored.catch((e: unknown) => toUnpack.destroy(e as Error));
    applied.catch((e: unknown) => body.destroy(e as Error));
    // The digest verdict comes first: a corrupt blob also breaks decompression, and the digest is the clearer error.
    const [s, a] = await Promise.allSettled([stored, applied]);
    if (s.status === 'rejected') throw s.reason;
    if (a.status === 'rejected') throw a.reason;
    return a.value;
  }
}

/** The layer's tar, decompressed as its media type says (by a program charged to the project that pulls it). */
function decompress(layer: Descriptor, compressed: Readable, project: string | undefined): Readable {
  const codec = layerCompression(layer.mediaType);
  return codec === 'none' || codec === undefined ? compressed : decompressed(compressed, codec, project);
}

/** Maps what an install can throw to a user-facing error, by error class and errno code. */
function mapInstallError(e: unknown): unknown {
  if (e instanceof AirlockError) return e;
  if (e instanceof DigestMismatchError || e instanceof LayerError) return imageInvalid(e.message);
  const code = (e as NodeJS.ErrnoException).code;
  if (isStorageFull(e))
    return new AirlockError(
      ErrorCode.StorageFull,
      `the image store is full (${(e as Error).message}); prune unused images (airlock image prune) or enlarge the store`,
    );
  if (code === 'ECONNRESET' || code === 'UND_ERR_SOCKET' || code === 'ETIMEDOUT' || code === 'ABORT_ERR') {
    return new AirlockError(ErrorCode.RegistryUnavailable, `the download broke off (${code}); retry the pull`);
  }
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
