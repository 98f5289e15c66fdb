/**
 * @module build-roots
 * An image provider for the sandboxes of RUN steps: the root of such a sandbox is a writable
 * snapshot of the step's parent layer, named by an unguessable token that exists only while its
 * build step does (so no other create can name it). When the sandbox is released, after its
 * runtime has stopped every process in it, the root is not deleted but handed to the build as a
 * work directory, to be committed as the step's layer.
 */
import { randomBytes } from 'node:crypto';
import { addMountPoints } from '../../host/rootfs-helper.js';
import type { RootfsSpec } from '../../runtimes/runtime.js';
import type { ImageDefaults, ImageProvider, PrepareOptions } from '../image.js';
import type { Lease } from '../leases.js';
import type { Snapshotter } from '../snapshotter.js';

/** The agent's mount points, as in every sandbox root (oci-rootfs.ts). */
const AGENT_DIR = '.airlock';
const AGENT_FILES = ['agent', 'statx-compat.so'];
/** A build step's root is held by the build itself; the sandbox row needs no lease. */
const NO_LEASE: Lease = { release: () => {} };

interface Root {
  chain: string;
  defaults: ImageDefaults;
  sandboxId: string | undefined;
  /** Set once the sandbox's root was handed over (or failed to be). */
  detached: Promise<string>;
  resolve(work: string): void;
  reject(e: unknown): void;
  settled: boolean;
}

export interface RegisteredRoot {
  /** The image reference a sandbox create names. */
  ref: string;
  /** The root as a work directory, once the sandbox is released. */
  detached: Promise<string>;
  /** True once a sandbox's root was made from it (so a release will hand it over). */
  prepared(): boolean;
  /** Forgets the token (the caller discards a root it was handed and does not keep). */
  unregister(): Promise<void>;
}

const PREFIX = 'airlock-build-step/';

export class BuildRoots implements ImageProvider {
  readonly #roots = new Map<string, Root>();
  readonly #snapshotter: Snapshotter;

  constructor(snapshotter: Snapshotter) {
    this.#snapshotter = snapshotter;
  }

  register(chain: string, defaults: ImageDefaults): RegisteredRoot {
    const ref = `${PREFIX}${randomBytes(16).toString('hex')}`;
    let resolve!: (w: string) => void;
    let reject!: (e: unknown) => void;
    const detached = new Promise<string>((res, rej) => {
      resolve = res;
      reject = rej;
    });
    detached.catch(() => {});
    const root: Root = { chain, defaults, sandboxId: undefined, detached, resolve, reject, settled: false };
    this.#roots.set(ref, root);
    return {
      ref,
      detached,
      prepared: () => root.sandboxId !== undefined,
      unregister: async () => {
        this.#roots.delete(ref);
        if (!root.settled) {
          root.settled = true;
          root.reject(new Error('the build step ended before its sandbox was released'));
        }
      },
    };
  }

  has(ref: string): boolean {
    return this.#roots.has(ref);
  }

  async resolve(ref: string): Promise<{ imageId: string; lease: Lease }> {
    return { imageId: ref, lease: NO_LEASE };
  }

  async defaults(imageId: string): Promise<ImageDefaults> {
    const root = this.#roots.get(imageId);
    if (!root) throw new Error(`no build step root ${imageId}`);
    return root.defaults;
  }

  async prepare(imageId: string, sandboxId: string, opts: PrepareOptions): Promise<RootfsSpec> {
    const root = this.#roots.get(imageId);
    if (!root) throw new Error(`no build step root ${imageId}`);
    root.sandboxId = sandboxId;
    const rootfs = await this.#snapshotter.prepareRootfs(sandboxId, root.chain, { diskBytes: opts.diskMiB * 1024 * 1024, idmap: opts.idmap });
    await addMountPoints(rootfs.hostPath, AGENT_DIR, AGENT_FILES);
    return { kind: 'directory', path: rootfs.path, readonly: false, mounts: [] };
  }

  /** Called by the sandbox service once the sandbox's processes are gone: hands the root over. */
  async release(sandboxId: string): Promise<void> {
    const root = [...this.#roots.values()].find((r) => r.sandboxId === sandboxId);
    if (!root || root.settled) {
      await this.#snapshotter.releaseRootfs(sandboxId);
      return;
    }
    root.settled = true;
    try {
      root.resolve(await this.#snapshotter.detachRootfs(sandboxId));
    } catch (e) {
      root.reject(e);
      throw e;
    }
  }
}
