/**
 * @module runtime
 * One interface per isolation class. A runtime turns a prepared root filesystem and limits into a
 * running sandbox whose agent answers on a channel, and tears it down without leaving anything.
 *
 * Lifecycle, as the sandbox service drives it:
 *   start(spec)     creates and starts the sandbox; resolves once its agent answered. On failure it
 *                   has already removed everything it made.
 *   adopt(id)       after a server restart, reconnects to a sandbox that still runs; undefined if not.
 *   status(id)      what the runtime itself says now.
 *   stop(id)        kills every process of the sandbox; once it resolves nothing runs in it, though
 *                   its host objects (containers, cgroups, sockets, mounts) may remain until destroy.
 *   destroy(id)     kills and removes every container, process, cgroup, socket and directory of the
 *                   sandbox; idempotent, safe on a half-created sandbox.
 *   list()          ids of every sandbox this runtime holds for us (reconciliation, leak checks).
 *
 * Every implementation runs the same conformance suite (src/test/conformance.ts).
 */
import type { RuntimeName } from '@airlock/protocol';
import type { AgentConnection } from '../agent-channel/agent-connection.js';
import type { PreparedRootfs } from '../images/image.js';

export interface RuntimeSpec {
  id: string;
  rootfs: PreparedRootfs;
  cpu: number;
  memoryMiB: number;
  pids: number;
  /** Index of the host uid range this sandbox owns. */
  slot: number;
}

export type RuntimeStatus = 'running' | 'stopped' | 'absent';

export interface RuntimeCapabilities {
  /** The sandbox has its own kernel surface (gVisor) rather than the host's (runc). */
  ownKernel: boolean;
  /** Root inside runs as an unprivileged host uid. */
  userNamespace: boolean;
  /** An OOM kills the whole sandbox, not only the process that allocated. */
  oomKillsSandbox: boolean;
  /** Runs pulled OCI images (a writable per-sandbox rootfs), not only the default image. */
  pulledImages: boolean;
  /**
   * Releasing host resources after stop() takes long enough (runsc: the sandbox and gofer processes
   * exit, then delete) that destroy answers after stop() and finishes the release in the background.
   */
  slowTeardown: boolean;
}

export type Availability = { available: true } | { available: false; reason: string };

export interface Runtime {
  readonly name: RuntimeName;
  readonly capabilities: RuntimeCapabilities;
  availability(): Promise<Availability>;
  start(spec: RuntimeSpec): Promise<AgentConnection>;
  adopt(id: string): Promise<AgentConnection | undefined>;
  status(id: string): Promise<RuntimeStatus>;
  /** OOM kills recorded for the sandbox so far, or undefined once its cgroup is gone. */
  oomKills(id: string): number | undefined;
  stop(id: string): Promise<void>;
  destroy(id: string): Promise<void>;
  list(): Promise<string[]>;
}
