/**
 * @module oci-rootfs
 * The image provider for local OCI images: a sandbox's root filesystem is a writable, size-limited
 * snapshot of its image's top layer (snapshotter.ts), with the agent's mount points added before
 * anything runs in it.
 *
 * SECURITY: the snapshot holds the image's content, which the image's author controls, and later
 * what the sandbox writes. Host code touches it exactly once, in prepare (before the sandbox starts),
 * and then only through fd-relative calls that follow no link (host/rootfs-helper.ts: mountpoints).
 * Reconciliation after a restart never prepares again: it reads the image's defaults from the store.
 */
import { ErrorCode } from '@airlock/protocol/errors';
import { AirlockError, isStorageFull } from '../errors.js';
import { addMountPoints, RootfsHelperError } from '../host/rootfs-helper.js';
import type { RootfsSpec } from '../runtimes/runtime.js';
import { DEFAULT_PROJECT, type ImageStore } from '../store/store.js';
import type { ImageCatalog } from './catalog.js';
import type { ImageDefaults, ImageProvider, PrepareOptions } from './image.js';
import type { Lease, Leases } from './leases.js';
import type { Puller } from './pull.js';
import type { Snapshotter } from './snapshotter.js';

/** Files every sandbox rootfs has, so that runtimes bind-mount onto them instead of creating them. */
const AGENT_DIR = '.airlock';
const AGENT_FILES = ['agent', 'statx-compat.so'];

export interface OciImagesDeps {
  images: ImageStore;
  catalog: ImageCatalog;
  puller: Puller;
  snapshotter: Snapshotter;
  leases: Leases;
}

export class OciImages implements ImageProvider {
  readonly #d: OciImagesDeps;

  constructor(deps: OciImagesDeps) {
    this.#d = deps;
  }

  has(ref: string): boolean {
    return ref !== 'default';
  }

  async resolve(ref: string, project: string): Promise<{ imageId: string; lease: Lease }> {
    for (let attempt = 0; ; attempt++) {
      const image = (await this.#d.catalog.find(project, ref)) ?? (await this.#d.puller.pull(project, ref));
      const lease = this.#d.leases.acquire([image.id]);
      // Collected between the lookup and the lease (an eviction raced us): pull again, once.
      if ((await this.#d.images.get(image.id)) !== undefined || attempt > 0) return { imageId: image.id, lease };
      lease.release();
    }
  }

  async poolServes(ref: string, project: string): Promise<boolean> {
    if (project === DEFAULT_PROJECT) return true;
    const mine = await this.#d.catalog.find(project, ref);
    return mine === undefined || mine.id === (await this.#d.catalog.find(DEFAULT_PROJECT, ref))?.id;
  }

  async defaults(imageId: string): Promise<ImageDefaults> {
    const image = await this.#d.images.get(imageId);
    if (!image) throw new AirlockError(ErrorCode.ImageNotFound, `image ${imageId} is no longer in the local store`);
    const c = image.config;
    return {
      env: c.env.length > 0 ? c.env : ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'],
      user: c.user,
      cwd: c.workingDir,
      command: [...c.entrypoint, ...c.cmd],
    };
  }

  async prepare(imageId: string, sandboxId: string, opts: PrepareOptions): Promise<RootfsSpec> {
    const image = await this.#d.images.get(imageId);
    if (!image) throw new AirlockError(ErrorCode.ImageNotFound, `image ${imageId} is no longer in the local store`);
    await this.#d.images.touch(image.id, new Date().toISOString());
    const top = image.layers[image.layers.length - 1]!.chainId;
    let step = 'snapshot';
    try {
      const rootfs = await this.#d.snapshotter.prepareRootfs(sandboxId, top, { diskBytes: opts.diskMiB * 1024 * 1024, idmap: opts.idmap });
      step = 'mount points';
      await addMountPoints(rootfs.hostPath, AGENT_DIR, AGENT_FILES);
      return { kind: 'directory', path: rootfs.path, readonly: false, mounts: [] };
    } catch (e) {
      await this.#d.snapshotter.releaseRootfs(sandboxId);
      const errno = e instanceof RootfsHelperError ? e.errno : undefined;
      if (errno === 'ENOSPC' || errno === 'EDQUOT' || isStorageFull(e)) {
        throw new AirlockError(
          ErrorCode.StorageFull,
          `the image store is full (${errno ?? (e as Error).message}) while preparing the sandbox's filesystem; prune unused images or enlarge the store`,
        );
      }
      if (step === 'snapshot') throw e;
      throw new AirlockError(ErrorCode.ImageInvalid, `image ${imageId} cannot host the agent: ${(e as Error).message}`);
    }
  }

  preparedSandboxes(): string[] {
    return this.#d.snapshotter.listRootfs();
  }

  release(sandboxId: string): Promise<void> {
    return this.#d.snapshotter.releaseRootfs(sandboxId);
  }
}
