/**
 * @module cgroup-handle
 * The SandboxHandle of a sandbox whose host side is a memory cgroup (runc, runsc, bwrap): OOM kills
 * come from the cgroup's counter, read asynchronously when the service asks (sync) or the sandbox
 * ended, so nothing polls a thousand idle sandboxes.
 */
import { readOomKills } from '../host/cgroups.js';
import type { AgentTransport, EnforcedLimits, SandboxEvent, SandboxHandle } from './runtime.js';

export interface CgroupHandleOptions {
  id: string;
  transport: AgentTransport;
  enforced: EnforcedLimits;
  /**
   * Whether an OOM kill recorded in the cgroup when the sandbox ended means the limit ended it: true
   * where the limit kills the whole sandbox (gVisor: the sentry is the only big host process), and
   * for the others when their init is what died.
   */
  oomEndsSandbox: boolean;
}

export class CgroupSandboxHandle implements SandboxHandle {
  readonly transport: AgentTransport;
  readonly enforced: EnforcedLimits;
  readonly #id: string;
  readonly #listeners = new Set<(e: SandboxEvent) => void>();
  readonly #oomEndsSandbox: boolean;
  #kills: number | undefined;

  constructor(o: CgroupHandleOptions) {
    this.#id = o.id;
    this.transport = o.transport;
    this.enforced = o.enforced;
    this.#oomEndsSandbox = o.oomEndsSandbox;
  }

  subscribe(listener: (e: SandboxEvent) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  async sync(): Promise<void> {
    const kills = await readOomKills(this.#id);
    if (kills === undefined) return;
    const before = this.#kills;
    this.#kills = kills;
    if (before !== undefined && kills > before) this.#emit({ type: 'oom', kills });
    else if (before === undefined && kills > 0) this.#emit({ type: 'oom', kills });
  }

  async ended(): Promise<{ oom: boolean; detail?: string }> {
    const before = this.#kills ?? 0;
    await this.sync();
    const kills = this.#kills ?? before;
    if (kills > 0 && (this.#oomEndsSandbox || kills > before)) return { oom: true, detail: `the memory limit killed it (${kills} OOM kill(s) in its cgroup)` };
    return { oom: false };
  }

  close(): void {
    this.#listeners.clear();
  }

  #emit(e: SandboxEvent): void {
    for (const l of this.#listeners) l(e);
  }
}
