/**
 * @module store
 * Durable state. Every sandbox is recorded here before any runtime is touched, and every change of
 * state is written before it is acknowledged, so a restarted server can reconcile what it finds on the
 * host with what it promised. SQLite is the embedded default; the interface is what a Postgres
 * implementation would fill.
 */
import type { RuntimeName, SandboxState, StopReason } from '@airlock/protocol';

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
}

export interface SandboxFilter {
  states?: SandboxState[];
  labels?: Record<string, string>;
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
  /** Slots held by sandboxes that are not destroyed. */
  usedSlots(): Set<number>;

  insertApiKey(record: ApiKeyRecord): void;
  findApiKeyByHash(hash: string): ApiKeyRecord | undefined;
  countApiKeys(): number;

  close(): void;
}
