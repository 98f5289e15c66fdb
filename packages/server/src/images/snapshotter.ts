/**
 * @module snapshotter
 * Turns unpacked image layers into per-sandbox root filesystems. Layers are immutable, identified
 * by their ChainID (the layer on top of exactly the layers below it), so images that share a base
 * share its unpacked files. A sandbox's rootfs is a writable copy-on-write view of its image's top
 * layer with a size limit; writes past it fail with EDQUOT/ENOSPC inside the sandbox only.
 *
 * One implementation today (btrfs-snapshotter.ts); the conformance suite in
 * snapshotter-conformance.ts is what another (overlayfs on a quota-capable filesystem, say) must pass.
 */

export interface IdMap {
  /** Host id that sandbox id 0 maps to, and how many ids follow. */
  hostId: number;
  size: number;
}

export interface SandboxRootfs {
  /** Directory the runtime uses as its root (`root.path`). */
  path: string;
  /** The snapshot itself on the host, owned by the image's own ids: for host-side writes before start. */
  hostPath: string;
}

export interface Snapshotter {
  hasLayer(chainId: string): boolean;
  /**
   * Creates layer `chainId` on top of `parent` (undefined: an empty base) by letting `apply` write into
   * a private directory; the layer appears atomically when `apply` succeeds and not at all otherwise.
   */
  createLayer(chainId: string, parent: string | undefined, apply: (dir: string) => Promise<void>): Promise<void>;
  removeLayer(chainId: string): Promise<void>;
  listLayers(): string[];
  /** A writable rootfs on top of `chainId`, limited to `diskBytes`; idempotent per sandbox id. */
  prepareRootfs(sandboxId: string, chainId: string, opts: { diskBytes: number; idmap?: IdMap | undefined }): Promise<SandboxRootfs>;
  /** Removes the sandbox's rootfs and everything written to it; safe when there is none. */
  releaseRootfs(sandboxId: string): Promise<void>;
  listRootfs(): string[];
  /** The directory of a layer, to read from on the host (read-only; the layer must exist). */
  layerPath(chainId: string): string;
  /**
   * A private writable copy of layer `parent` (undefined: empty) for a build step to write into on
   * the host; it becomes a layer with commitWork or goes with discardWork. Left over after a crash,
   * it is removed at the next open.
   */
  prepareWork(parent: string | undefined): Promise<string>;
  /** Makes a work directory layer `chainId`, atomically; when that layer exists already the work is dropped. */
  commitWork(work: string, chainId: string): Promise<void>;
  discardWork(work: string): Promise<void>;
  /**
   * Turns a sandbox's stopped rootfs into a work directory (for a build step's commit) and releases
   * the rootfs. Only after the sandbox's processes are gone.
   */
  detachRootfs(sandboxId: string): Promise<string>;
  usage(): Promise<{ usedBytes: number; freeBytes: number }>;
  /** Resolves once the space of removed layers and rootfs is free again (deletion may be lazy). */
  reclaim(): Promise<void>;
  /** Stops using the backing store; unmounts it when no sandbox rootfs remains. */
  close(): Promise<void>;
}
