/**
 * @module image-service
 * Local OCI images, assembled from their parts: the catalog (lookups), the installer (blobs and
 * layers, verified), the puller (registries), garbage collection by leases, and the provider that
 * prepares sandbox root filesystems. This is what the API and the sandbox layer are given.
 *
 * Guarantees:
 * - Nothing unverified is used: every blob is checked against its digest while it streams, every
 *   unpacked layer against the DiffID in the image config; a failed install removes what it added.
 * - Concurrent pulls of one reference share one download; layers shared between images are stored
 *   and unpacked once (by digest and ChainID).
 * - An image that a sandbox uses, or that a create has resolved and not yet recorded (a lease),
 *   cannot be removed; unused images go on `prune` and, least recently used first, when the store
 *   exceeds its size budget.
 */
import type { Logger } from '../log.js';
import type { Releases } from '../sandbox/releases.js';
import type { ImageOwner, ImageRecord, Store } from '../store/store.js';
import { ImageCatalog, type ImageView } from './catalog.js';
import type { ContentStore } from './content-store.js';
import { ImageGc } from './gc.js';
import { Installer, type BlobSource, type ProgressListener } from './install.js';
import { Leases } from './leases.js';
import { OciImages } from './oci-rootfs.js';
import { Puller } from './pull.js';
import type { RegistryClient } from './registry-client.js';
import type { Snapshotter } from './snapshotter.js';

export interface ImageServiceDeps {
  store: Store;
  content: ContentStore;
  snapshotter: Snapshotter;
  registry: RegistryClient;
  log: Logger;
  budgetBytes: number;
  releases: Releases;
}

export class ImageService {
  readonly catalog: ImageCatalog;
  readonly leases = new Leases();
  readonly gc: ImageGc;
  readonly installer: Installer;
  readonly puller: Puller;
  /** The sandbox layer's view: resolve, defaults, prepare and release root filesystems. */
  readonly provider: OciImages;
  readonly #snapshotter: Snapshotter;

  constructor(d: ImageServiceDeps) {
    this.#snapshotter = d.snapshotter;
    this.catalog = new ImageCatalog(d.store.images);
    this.gc = new ImageGc({
      images: d.store.images,
      sandboxes: d.store.sandboxes,
      catalog: this.catalog,
      content: d.content,
      snapshotter: d.snapshotter,
      leases: this.leases,
      releases: d.releases,
      budgetBytes: d.budgetBytes,
      log: d.log,
    });
    this.installer = new Installer({ images: d.store.images, content: d.content, snapshotter: d.snapshotter, leases: this.leases, gc: this.gc, log: d.log });
    this.puller = new Puller({ registry: d.registry, installer: this.installer, gc: this.gc, log: d.log, tag: (p, r, id) => d.store.images.tag(p, r, id) });
    this.provider = new OciImages({ images: d.store.images, catalog: this.catalog, puller: this.puller, snapshotter: d.snapshotter, leases: this.leases });
  }

  /** Pulls for a project: the image is shared, the reference it is pulled by becomes the project's. */
  pull(project: string, input: string, onProgress?: ProgressListener): Promise<ImageRecord> {
    return this.puller.pull(project, input, onProgress);
  }

  install(manifestBytes: Buffer, manifestDigest: string, repository: string, owner: ImageOwner | undefined, source: BlobSource): Promise<ImageRecord> {
    return this.installer.install(manifestBytes, manifestDigest, repository, owner, source);
  }

  /** The image an id or one of the project's references names. */
  find(project: string, input: string): Promise<ImageRecord | undefined> {
    return this.catalog.find(project, input);
  }

  /** Every image, with one project's references and use (or, without one, everyone's). */
  list(project?: string): Promise<ImageView[]> {
    return this.catalog.list(project);
  }

  inspect(project: string, input: string, scoped = true): Promise<ImageView> {
    return this.catalog.inspect(project, input, scoped);
  }

  /** Removes an image (by id) for every project; refused while a sandbox uses it (naming `project`'s). */
  remove(imageId: string, label = imageId, project?: string): Promise<ImageRecord> {
    return this.gc.remove(imageId, label, project);
  }

  prune(): Promise<{ removed: string[]; freedBytes: number }> {
    return this.gc.prune();
  }

  enforceBudget(): Promise<string[]> {
    return this.gc.enforceBudget();
  }

  async close(): Promise<void> {
    await this.#snapshotter.close();
  }
}

export type { PullProgress, ProgressListener, BlobSource } from './install.js';
