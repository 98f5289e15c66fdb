/**
 * @module store
 * Durable state. Every sandbox is recorded here before any runtime is touched, and every change of
 * state is written before it is acknowledged, so a restarted server can reconcile what it finds on the
 * host with what it promised. SQLite is the embedded default; the interface is what a Postgres
 * implementation would fill.
 */
import type { ImageConfig, RuntimeName, SandboxState, StopReason } from '@airlock/protocol';

export interface SandboxRecord {
  id: string;
  state: SandboxState;
  runtime: RuntimeName;
  image: string;
  cpu: number;
  memoryMiB: number;
  pids: number;
  /** Seconds, or null for no limit. */
  timeout: number | null;
  env: Record<string, string>;
  metadata: Record<string, string>;
  createdAt: string;
  startedAt: string | null;
  stoppedAt: string | null;
  expiresAt: string | null;
  stopReason: StopReason | null;
  /** Index of the host uid/gid range this sandbox owns (runc user namespace). */
  slot: number;
  /** The local image the sandbox was created from (an image id), so that it cannot be removed under it. */
  imageId: string;
  /** Disk limit of the sandbox's writable rootfs, MiB. */
  diskMiB: number;
  /**
   * The warm pool (its shape key) that holds this sandbox while it waits to be handed out; null once a
   * create took it, and for sandboxes created on request. Pooled sandboxes are invisible to users.
   */
  pool: string | null;
  /**
   * Destroy answered before the runtime's teardown finished (asynchronous destroy): the host
   * resources are still being released, so the slot and image stay held, and a restart must redo it.
   */
  releasePending: boolean;
}

export interface SandboxFilter {
  states?: SandboxState[];
  labels?: Record<string, string>;
  /** Include sandboxes that sit in a warm pool (default: only those handed out or created on request). */
  includePooled?: boolean;
  /** Only destroyed sandboxes whose host resources are still being released (or only the others). */
  releasePending?: boolean;
}

export interface ImageLayerRecord {
  digest: string;
  mediaType: string;
  size: number;
  diffId: string;
  chainId: string;
}

/** A local image: its manifest digest is its id; references (tags) point at it. */
export interface ImageRecord {
  id: string;
  /** Repository it came from (`docker.io/library/python`), or `import` for an untagged import. */
  repository: string;
  configDigest: string;
  config: ImageConfig;
  layers: ImageLayerRecord[];
  /** Bytes of the compressed blobs (what a pull downloads). */
  size: number;
  /** Bytes of file content written when unpacking. */
  unpackedBytes: number;
  createdAt: string;
  lastUsedAt: string;
}

export interface ApiKeyRecord {
  id: string;
  hash: string;
  name: string;
  createdAt: string;
}

export interface Store {
  insertSandbox(record: SandboxRecord): void;
  /** Applies a patch atomically and returns the new record; throws if the id is unknown. */
  updateSandbox(id: string, patch: Partial<Omit<SandboxRecord, 'id'>>): SandboxRecord;
  getSandbox(id: string): SandboxRecord | undefined;
  /** Removes a record that was never acknowledged (a create that failed). */
  deleteSandbox(id: string): void;
  listSandboxes(filter?: SandboxFilter): SandboxRecord[];
  /**
   * Hands a pooled, running sandbox out: applies the patch and clears `pool` in one statement, so two
   * creates can never take the same one. Undefined if it is no longer pooled and running.
   */
  claimPooled(id: string, patch: Partial<Omit<SandboxRecord, 'id' | 'pool'>>): SandboxRecord | undefined;
  /** Slots held by sandboxes that are not destroyed or still release host resources. */
  usedSlots(): Set<number>;

  /** Inserts or replaces an image and points `reference` (if given) at it, atomically. */
  putImage(record: ImageRecord, reference: string | undefined): void;
  getImage(id: string): ImageRecord | undefined;
  /** The image a canonical reference (`docker.io/library/python:3.12`) points at. */
  imageByReference(reference: string): ImageRecord | undefined;
  referencesOf(id: string): string[];
  listImages(): ImageRecord[];
  /** Removes the image and every reference to it. */
  deleteImage(id: string): void;
  touchImage(id: string, at: string): void;
  /** Ids of images that sandboxes which are not destroyed (or still being released) were created from. */
  imagesInUse(): Set<string>;

  insertApiKey(record: ApiKeyRecord): void;
  findApiKeyByHash(hash: string): ApiKeyRecord | undefined;
  countApiKeys(): number;

  close(): void;
}
