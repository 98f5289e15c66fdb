/**
 * @module image
 * What a runtime needs from an image: a root filesystem for one sandbox and the image's defaults.
 * The built-in default image fills this today; pulled OCI images (a content store plus a
 * snapshotter that prepares a per-sandbox writable layer) will fill the same interface.
 */

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
}

export interface PreparedRootfs {
  /** Directory used as the OCI `root.path`. */
  rootfs: string;
  readonly: boolean;
  /** Mounts the image needs on top of the runtime's standard ones. */
  mounts: OciMount[];
  defaults: ImageDefaults;
}

export interface ImageProvider {
  /** True if this provider can serve `ref`. */
  has(ref: string): boolean;
  /** Prepares the root filesystem of one sandbox (idempotent per sandbox id). */
  prepare(ref: string, sandboxId: string, limits: { memoryMiB: number }): Promise<PreparedRootfs>;
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
