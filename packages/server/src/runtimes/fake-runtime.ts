/**
 * @module fake-runtime
 * TEST ONLY: a Runtime held in memory, whose sandboxes are FakeAgents (agent-channel/fake-agent.ts).
 * It lets the lifecycle, the pools, reconcile and the hostile-channel handling be unit tested without
 * root or a real runtime; it runs the same runtime contract suite as the real ones. Its state lives in
 * a FakeHost shared between instances, so a "server restart" is a new FakeRuntime on the same host.
 */
import type { RuntimeName } from '@airlock/protocol';
import { FakeAgent } from '../agent-channel/fake-agent.js';
import { runtimeError } from '../errors.js';
import { hostLimits } from './enforced-limits.js';
import type { Availability, EnforcedLimits, Runtime, RuntimeDescription, RuntimeSpec, RuntimeStatus, SandboxEvent, SandboxHandle } from './runtime.js';

interface FakeSandbox {
  agent: FakeAgent;
  status: RuntimeStatus;
  oomKills: number;
  oomEnded: boolean;
}

/** What a fake machine holds: the sandboxes that "run" on it, across server restarts. */
export class FakeHost {
  readonly sandboxes = new Map<string, FakeSandbox>();
  /** Makes the next start of these ids fail (a runtime error at start). */
  readonly failStarts = new Set<string>();
  /** Every start fails while this is set. */
  failAllStarts = false;
  /** Makes the next destroy of these ids fail once (a busy mount, a cgroup not empty yet). */
  readonly failDestroys = new Set<string>();
  starts = 0;
  /** Adoptions in flight, and the most there were at once (reconcile adopts several at a time). */
  adopting = 0;
  maxAdopting = 0;

  agent(id: string): FakeAgent {
    const s = this.sandboxes.get(id);
    if (!s) throw new Error(`no fake sandbox ${id}`);
    return s.agent;
  }

  /** The sandbox dies on its own (its init exited), optionally killed by its memory limit. */
  kill(id: string, options: { oom?: boolean } = {}): void {
    const s = this.sandboxes.get(id);
    if (!s) return;
    s.status = 'stopped';
    if (options.oom) {
      s.oomKills++;
      s.oomEnded = true;
    }
    s.agent.exit();
  }

  /** A process in it was killed by the memory limit (the sandbox goes on). */
  oomKill(id: string): void {
    const s = this.sandboxes.get(id);
    if (s) s.oomKills++;
  }
}

export class FakeRuntime implements Runtime {
  readonly name: RuntimeName;
  readonly description: RuntimeDescription = {
    isolation: 'namespaces',
    rootfs: ['directory'],
    idmappedRootfs: false,
    rootInside: true,
    pulledImages: true,
    network: ['none', 'netns'],
  };
  readonly #host: FakeHost;

  constructor(host: FakeHost, name: RuntimeName = 'runc') {
    this.#host = host;
    this.name = name;
  }

  async availability(): Promise<Availability> {
    return { available: true };
  }

  async start(spec: RuntimeSpec): Promise<SandboxHandle> {
    this.#host.starts++;
    if (this.#host.failAllStarts || this.#host.failStarts.delete(spec.id)) {
      await this.destroy(spec.id);
      throw runtimeError(`fake runtime refused to start ${spec.id}`);
    }
    this.#host.sandboxes.set(spec.id, { agent: new FakeAgent(), status: 'running', oomKills: 0, oomEnded: false });
    return this.#handle(spec.id, hostLimits(spec));
  }

  async adopt(id: string, spec: RuntimeSpec): Promise<SandboxHandle | undefined> {
    this.#host.maxAdopting = Math.max(this.#host.maxAdopting, ++this.#host.adopting);
    try {
      // A real adopt waits on the runtime's state; yielding lets adoptions that run in parallel overlap.
      await new Promise((resolve) => setImmediate(resolve));
      return (await this.status(id)) === 'running' ? this.#handle(id, hostLimits(spec)) : undefined;
    } finally {
      this.#host.adopting--;
    }
  }

  async status(id: string): Promise<RuntimeStatus> {
    return this.#host.sandboxes.get(id)?.status ?? 'absent';
  }

  async stop(id: string): Promise<void> {
    const s = this.#host.sandboxes.get(id);
    if (s && s.status === 'running') {
      s.status = 'stopped';
      s.agent.exit();
    }
  }

  async destroy(id: string): Promise<void> {
    await this.stop(id);
    if (this.#host.failDestroys.delete(id)) throw runtimeError(`fake runtime could not remove ${id}`);
    this.#host.sandboxes.delete(id);
  }

  async list(): Promise<string[]> {
    return [...this.#host.sandboxes.keys()];
  }

  #handle(id: string, enforced: EnforcedLimits): SandboxHandle {
    const host = this.#host;
    const listeners = new Set<(e: SandboxEvent) => void>();
    let seen = 0;
    return {
      transport: host.agent(id).transport(`fake:${id}`),
      enforced,
      subscribe: (l) => {
        listeners.add(l);
        return () => listeners.delete(l);
      },
      sync: async () => {
        const kills = host.sandboxes.get(id)?.oomKills ?? seen;
        if (kills > seen) for (const l of listeners) l({ type: 'oom', kills });
        seen = kills;
      },
      ended: async () => ({ oom: host.sandboxes.get(id)?.oomEnded ?? false }),
      close: () => listeners.clear(),
    };
  }
}
