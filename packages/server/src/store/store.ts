/**
 * @module store
 * Durable state, split by role (sandboxes, images, keys) so that callers depend on the part they use.
 * Every sandbox is recorded here before any runtime is touched, and every change of state is written
 * before it is acknowledged, so a restarted server can reconcile what it finds on the host with what
 * it promised. The interface is asynchronous so that a networked database (Postgres) can fill it;
 * nothing may rely on two calls happening without a turn of the event loop between them. State
 * changes are conditional (compare-and-set on the state), so two writers can never both win.
 *
 * Every record belongs to a project (what existed before tenancy belongs to `default`); every query
 * names it where the caller acts for a project.
 */
import type { ImageConfig, RuntimeName, SandboxState, StopReason, NetworkSettings } from '@airlock/protocol';
import type { EnforcedLimits } from '../runtimes/runtime.js';

export const DEFAULT_PROJECT = 'default';

export interface SandboxRecord {
  id: string;
  project: string;
  state: SandboxState;
  runtime: RuntimeName;
  image: string;
  cpu: number;
  memoryMiB: number;
  /** Guest processes asked for. */
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
  /** A human-readable detail of the stop (e.g. which protocol rule the agent broke). */
  stopDetail: string | null;
  /** Index of the host uid/gid range this sandbox owns. */
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
  /** What the runtime enforces (null until it started). */
  enforced: EnforcedLimits | null;
  /** The sandbox's network (null: loopback only, no namespace of ours). */
  network: SandboxNetwork | null;
}

/** What a restarted server needs to take a sandbox's network back. */
export interface SandboxNetwork {
  /** Which /30 of the subnet (and which host veth) the sandbox owns. */
  index: number;
  settings: NetworkSettings;
  /** Opens the sandbox's exposed ports (unless settings.publicPorts). */
  portsToken: string;
}

export interface SandboxFilter {
  project?: string;
  states?: SandboxState[];
  labels?: Record<string, string>;
  /** Include sandboxes that sit in a warm pool (default: only those handed out or created on request). */
  includePooled?: boolean;
  /** Only destroyed sandboxes whose host resources are still being released (or only the others). */
  releasePending?: boolean;
}

export type SandboxPatch = Partial<Omit<SandboxRecord, 'id' | 'project' | 'state'>>;

export interface SandboxStore {
  insert(record: SandboxRecord): Promise<void>;
  get(id: string): Promise<SandboxRecord | undefined>;
  list(filter?: SandboxFilter): Promise<SandboxRecord[]>;
  /** Applies a patch to fields other than the state; throws if the id is unknown. */
  update(id: string, patch: SandboxPatch): Promise<SandboxRecord>;
  /**
   * Moves the sandbox to `to` only if it is in one of `from` now, with the patch, atomically.
   * Undefined when it was not (another writer moved it first).
   */
  transition(id: string, from: readonly SandboxState[], to: SandboxState, patch?: SandboxPatch): Promise<SandboxRecord | undefined>;
  /**
   * Hands a pooled, running sandbox out: applies the patch and clears `pool` in one statement, so two
   * creates can never take the same one. Undefined if it is no longer pooled and running.
   */
  claimPooled(id: string, patch: SandboxPatch & { project: string }): Promise<SandboxRecord | undefined>;
  /** Removes a record that was never acknowledged (a create that failed). */
  delete(id: string): Promise<void>;
  /**
   * Sandboxes that hold host resources (creating, running or unknown, or whose release has not
   * finished): what admission counts. A stopped sandbox whose release finished holds nothing.
   */
  holding(): Promise<SandboxRecord[]>;
  /** Running sandboxes with an expiry, earliest first (at most `limit`). */
  expiring(limit: number): Promise<{ id: string; expiresAt: string }[]>;
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
  project: string;
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

/** Who an image is recorded for: the project that pulled, imported or built it, and its reference. */
export interface ImageOwner {
  project: string;
  /** The project's canonical reference (`docker.io/library/python:3.12`) to point at the image. */
  reference?: string | undefined;
}

/**
 * Images are one shared store; references (tags) are per project: a project's `myapp:latest` and
 * another's are two names, and pointing one never moves the other.
 */
export interface ImageStore {
  /**
   * Inserts or refreshes an image and, with an owner, grants it to the owner's project and points
   * the owner's reference (if given) at it, atomically.
   */
  put(record: ImageRecord, owner?: ImageOwner): Promise<void>;
  get(id: string): Promise<ImageRecord | undefined>;
  /** The image a project's canonical reference (`docker.io/library/python:3.12`) points at. */
  byReference(project: string, reference: string): Promise<ImageRecord | undefined>;
  /**
   * Points the project's reference at a stored image and grants the image to the project, atomically;
   * false (and nothing written) if the image is not in the store (any more).
   */
  tag(project: string, reference: string, imageId: string): Promise<boolean>;
  /** The references to an image: one project's, or (no project) every project's, each once, sorted. */
  referencesOf(id: string, project?: string): Promise<string[]>;
  list(): Promise<ImageRecord[]>;
  /** Removes the image, every project's references to it and every grant of it. */
  delete(id: string): Promise<void>;
  touch(id: string, at: string): Promise<void>;
  /**
   * Ids of images that sandboxes holding host resources (see SandboxStore.holding) were created
   * from: the project's sandboxes only, or (no project) every project's.
   */
  inUse(project?: string): Promise<Set<string>>;
}

export type KeyRole = 'admin' | 'project' | 'read';

export interface ApiKeyRecord {
  /** Public id, safe to log (the key is ak_<id>_<secret>; keys from before tenancy have a uuid). */
  id: string;
  project: string;
  /** SHA-256 of the whole key, hex: the secret itself is never stored. */
  hash: string;
  name: string;
  role: KeyRole;
  createdAt: string;
  expiresAt: string | null;
  revokedAt: string | null;
}

export interface KeyStore {
  insert(record: ApiKeyRecord): Promise<void>;
  findByHash(hash: string): Promise<ApiKeyRecord | undefined>;
  get(id: string): Promise<ApiKeyRecord | undefined>;
  list(project: string): Promise<ApiKeyRecord[]>;
  /** Marks the key revoked (kept for the audit trail); false if it was unknown or already revoked. */
  revoke(id: string, at: string): Promise<boolean>;
  count(): Promise<number>;
}

/** A project: its name is its id. `overrides` are the admin's quota settings over the server defaults. */
export interface ProjectRecord {
  name: string;
  createdAt: string;
  overrides: Partial<Record<string, number | null>>;
}

export interface ProjectStore {
  insert(record: ProjectRecord): Promise<void>;
  get(name: string): Promise<ProjectRecord | undefined>;
  list(): Promise<ProjectRecord[]>;
  setOverrides(name: string, overrides: ProjectRecord['overrides']): Promise<void>;
  /** Removes the project, revokes its keys and drops its image references, in one transaction. */
  delete(name: string, at: string): Promise<void>;
}

/** Which projects reference which images: one content store, references per project. */
export interface ImageGrants {
  /** A no-op for an image not in the store (the built-in ones). */
  grant(project: string, imageId: string): Promise<void>;
  /** Drops one project's grant and its references to the image; returns how many projects still hold it. */
  ungrant(project: string, imageId: string): Promise<number>;
  has(project: string, imageId: string): Promise<boolean>;
  imagesOf(project: string): Promise<Set<string>>;
}

export interface AuditRecord {
  seq: number;
  at: string;
  keyId: string;
  project: string;
  action: string;
  target: string | null;
  status: number;
  result: string;
  argv: string[] | null;
}

/** Append-only from the API: there is no update, and deletion is only retention's. */
export interface AuditStore {
  append(event: Omit<AuditRecord, 'seq'>): Promise<void>;
  list(project: string, opts: { before?: number; limit: number }): Promise<AuditRecord[]>;
  /** Retention: keeps at most `maxEvents` per project, none older than `olderThan`. */
  prune(maxEvents: number, olderThan: string): Promise<number>;
}

export interface Store {
  readonly sandboxes: SandboxStore;
  readonly images: ImageStore;
  readonly keys: KeyStore;
  readonly projects: ProjectStore;
  readonly grants: ImageGrants;
  readonly audit: AuditStore;
  close(): Promise<void>;
}

/** A row read back from the database failed validation: the file was damaged or written by something else. */
export class StoreCorruptError extends Error {
  override readonly name = 'StoreCorruptError';
}
