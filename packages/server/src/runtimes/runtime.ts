/**
 * @module runtime
 * One interface per isolation class. A runtime turns a root filesystem, limits and a network
 * attachment into a running sandbox whose agent answers over a transport, and tears it down without
 * leaving anything. Nothing here is specific to a host process model: a microVM over virtio-serial
 * or a sandbox on another node fills the same interface.
 *
 * Lifecycle, as the sandbox service drives it:
 *   start(spec)     creates and starts the sandbox; resolves once it is running (the caller then
 *                   opens the agent channel over `handle.transport`). On failure it has already
 *                   removed everything it made.
 *   adopt(id)       after a server restart, the handle of a sandbox that still runs; undefined if not.
 *   status(id)      what the runtime itself says now.
 *   stop(id)        kills every process of the sandbox; once it resolves nothing runs in it, though
 *                   its host objects (containers, cgroups, sockets, mounts) may remain until destroy.
 *   destroy(id)     kills and removes every container, process, cgroup, socket and directory of the
 *                   sandbox; idempotent, safe on a half-created sandbox.
 *   list()          ids of every sandbox this runtime holds for us (reconciliation, leak checks).
 *
 * Every implementation runs the contract suite (runtime-contract.ts, against the interface) and the
 * HTTP conformance suite (packages/testkit); a divergence is a skip with a written reason.
 */
import type { Duplex } from 'node:stream';
import type { RuntimeName } from '@airlock/protocol';
import type { OciMount } from '../images/image.js';

/**
 * The sandbox's root filesystem as the image layer hands it over. A runtime declares which kinds it
 * accepts (RuntimeDescription.rootfs); a VM runtime may add a block-device kind.
 */
export type RootfsSpec = {
  kind: 'directory';
  /** Host directory used as the root (an idmapped mount when the runtime asked for one). */
  path: string;
  readonly: boolean;
  /** Mounts the image needs on top of the runtime's standard ones. */
  mounts: OciMount[];
};

/** How the sandbox reaches a network: not at all (loopback only), or through a prepared namespace. */
export type NetworkAttachment = { kind: 'none' } | { kind: 'netns'; path: string };

export interface RuntimeSpec {
  id: string;
  rootfs: RootfsSpec;
  cpu: number;
  memoryMiB: number;
  /** Processes the sandbox's code may run at once (guest processes, whatever the runtime's own overhead). */
  pids: number;
  /** The host uid/gid range this sandbox owns: a user namespace maps 0..size-1 onto base.. */
  hostIds: { base: number; size: number };
  network: NetworkAttachment;
  /** The project whose cgroup level the sandbox joins (host/cgroups.ts); none for a pooled sandbox, which is no one's until claimed. */
  project?: string | undefined;
}

/** The limits a runtime really enforces for a sandbox, and where (they can differ from the spec). */
export interface EnforcedLimits {
  /** Guest processes; null where the runtime cannot bound them inside the sandbox. */
  pids: number | null;
  /** The host-side process guard (host tasks of the sandbox: threads of gVisor's sentry, QEMU, …). */
  hostPids: number;
  memoryMiB: number;
  /** Memory the host grants on top of the guest's limit (gVisor's sentry), so a guest OOM kills a process, not the sandbox. */
  memoryOverheadMiB: number;
  cpu: number;
}

/** Opens byte streams to a sandbox's agent (its shim's socket, a vsock, a remote node). */
export interface AgentTransport {
  /** A new stream; it replaces any previous one (one host connection at a time). */
  open(timeoutMs: number): Promise<Duplex>;
  /** For logs: where the stream goes. */
  readonly endpoint: string;
}

/** What a runtime observes on its own side of a sandbox: the memory limit killed a process (`kills` is the running total). */
export type SandboxEvent = { type: 'oom'; kills: number };

export interface SandboxHandle {
  readonly transport: AgentTransport;
  readonly enforced: EnforcedLimits;
  /** Listeners get every event from now on; returns the unsubscribe function. */
  subscribe(listener: (e: SandboxEvent) => void): () => void;
  /** Samples what the runtime watches (OOM counters) now and emits any change before resolving. */
  sync(): Promise<void>;
  /** The agent's channel closed on its own: why did the sandbox end, as far as the runtime can tell? */
  ended(): Promise<{ oom: boolean; detail?: string }>;
  /** Stops watching (the sandbox itself is untouched). */
  close(): void;
}

/** What kind of boundary a runtime is. Descriptive: the service never branches on it. */
export interface RuntimeDescription {
  isolation: 'user-space-kernel' | 'namespaces' | 'microvm';
  /** Root filesystem kinds start() accepts. */
  rootfs: RootfsSpec['kind'][];
  /** The directory rootfs must be seen through an idmapped mount onto spec.hostIds (a user namespace). */
  idmappedRootfs: boolean;
  /** Whether uid 0 exists inside (bwrap maps one unprivileged uid, to `user`). */
  rootInside: boolean;
  /** Runs pulled OCI images (a writable per-sandbox rootfs), not only the default image. */
  pulledImages: boolean;
  network: NetworkAttachment['kind'][];
}

export type RuntimeStatus = 'running' | 'stopped' | 'absent';

export type Availability =
  | {
      available: true;
      /** Virtual machines: the accelerator guests get (kvm where a probe showed it works, else tcg) and why. */
      accel?: { name: 'kvm' | 'tcg'; reason: string };
    }
  | { available: false; reason: string };

export interface Runtime {
  readonly name: RuntimeName;
  readonly description: RuntimeDescription;
  availability(): Promise<Availability>;
  start(spec: RuntimeSpec): Promise<SandboxHandle>;
  adopt(id: string, spec: RuntimeSpec): Promise<SandboxHandle | undefined>;
  status(id: string): Promise<RuntimeStatus>;
  stop(id: string): Promise<void>;
  destroy(id: string): Promise<void>;
  list(): Promise<string[]>;
}
