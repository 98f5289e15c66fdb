/**
 * @module image
 * What a sandbox needs from an image: a root filesystem for one sandbox and the image's defaults.
 * Two providers fill it: the built-in default image (default-image.ts) and local OCI images
 * (oci-rootfs.ts: a snapshotter prepares a per-sandbox writable layer of the image).
 */
import type { RootfsSpec } from '../runtimes/runtime.js';
import type { Lease } from './leases.js';
import type { IdMap } from './snapshotter.js';

/** A mount in OCI runtime-spec form. */
export interface OciMount {
  destination: string;
  type: string;
  source: string;
  options: string[];
}

export interface ImageDefaults {
  /** KEY=VALUE entries every exec starts from (before sandbox and exec env). */
  env: string[];
  /** User and working directory for execs that do not name one. */
  user: string;
  cwd: string;
  /** The image's Entrypoint + Cmd: what an exec without a command runs (empty: none). */
  command: string[];
}

export interface PrepareOptions {
  memoryMiB: number;
  /** Limit of what the sandbox may write to its filesystem. */
  diskMiB: number;
  /**
   * Set for runtimes with a user namespace: how the sandbox's ids appear on the host, so its files
   * are seen through an idmapped mount (the range for runc; for bwrap, which maps one host uid to
   * `user`, a range placed so that uid 1000 lands on that host uid).
   */
  idmap?: IdMap | undefined;
}

export interface ImageProvider {
  /** True if this provider can serve `ref`. */
  has(ref: string): boolean;
  /**
   * The id of the local image `ref` names in `project` (an id, or the project's own reference),
   * pulling it for the project first if needed, with a lease that keeps it from garbage collection
   * until the caller has recorded it (in a sandbox row) and released it.
   */
  resolve(ref: string, project: string): Promise<{ imageId: string; lease: Lease }>;
  /**
   * Whether a warm pool's sandboxes of `ref` (started for the default project) are the image `ref`
   * names for `project`: not when the project's own reference names another image. Absent: always.
   */
  poolServes?(ref: string, project: string): Promise<boolean>;
  /** What execs in a sandbox of this image start from. */
  defaults(imageId: string): Promise<ImageDefaults>;
  /**
   * Prepares the root filesystem of one sandbox from a resolved image, before anything runs in it:
   * it is the only time host code writes into a sandbox's rootfs.
   */
  prepare(imageId: string, sandboxId: string, opts: PrepareOptions): Promise<RootfsSpec>;
  /** Ids of the sandboxes this provider holds a prepared root filesystem for (for reconciliation). */
  preparedSandboxes?(): string[];
  /** Releases what prepare made for the sandbox; safe to call when nothing was prepared. */
  release(sandboxId: string): Promise<void>;
}

/**
 * Inodes a sandbox tmpfs may hold: 256 per MiB of memory (131,072 at the default 512 MiB). Without a
 * bound a tmpfs allows half the host's RAM pages in inodes, which an inode bomb turns into kernel memory.
 */
export function tmpfsInodes(memoryMiB: number): number {
  return memoryMiB * 256;
}
