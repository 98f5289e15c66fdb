/**
 * @module live
 * The sandboxes this server has an agent channel to: the channel, the runtime's handle, the image's
 * exec defaults, what the runtime counted (OOM kills), whether the agent answers its pings, and how
 * the sandbox stopped once it did. Attaching connects the channel; a channel that closes on its own
 * is reported to `onStopped` with the reason (its agent broke the protocol, the memory limit ended
 * it, or it just exited).
 */
import { join } from 'node:path';
import type { StopReason } from '@airlock/protocol';
import { AgentConnection, type ChannelLimits } from '../agent-channel/agent-connection.js';
import { AgentProtocolError } from '../agent-channel/errors.js';
import type { ImageDefaults } from '../images/image.js';
import type { Logger } from '../log.js';
import type { Runtime, SandboxHandle } from '../runtimes/runtime.js';
import { SandboxProcesses, type ProcessLimits } from '../processes/processes.js';
import type { ProcessEntry } from '../processes/process-entry.js';

export interface StopInfo {
  reason: StopReason | null;
  detail: string;
}

export interface LiveSandbox {
  readonly id: string;
  readonly conn: AgentConnection;
  readonly handle: SandboxHandle;
  readonly runtime: Runtime;
  readonly defaults: ImageDefaults;
  /** Its processes (the agent's registry, mirrored) and their journals. */
  readonly processes: SandboxProcesses;
  oomKills: number;
  missedPings: number;
  unresponsiveSince: string | null;
  /** Settles once the sandbox stopped, with why. */
  readonly stopped: Promise<StopInfo>;
  /** Records why it is stopping (first caller wins) and settles `stopped`. */
  settle(info: StopInfo): void;
}

export interface AttachOptions {
  readyTimeoutMs: number;
  limits: ChannelLimits;
  log: Logger;
  /** Where process journals live (one directory per sandbox beneath), and their limits. */
  journals: { dir: string; limits: ProcessLimits };
  /** The channel closed without the server closing it: the sandbox stopped on its own. */
  onStopped(live: LiveSandbox, info: StopInfo): void;
  /** A process of a live sandbox started or ended (observers: metrics, lifecycle events). */
  onProcess?(id: string, runtime: Runtime, what: 'started' | 'ended', entry: ProcessEntry): void;
}

export class LiveSandboxes {
  readonly #live = new Map<string, LiveSandbox>();
  readonly #o: AttachOptions;

  constructor(options: AttachOptions) {
    this.#o = options;
  }

  get(id: string): LiveSandbox | undefined {
    return this.#live.get(id);
  }

  values(): IterableIterator<LiveSandbox> {
    return this.#live.values();
  }

  get size(): number {
    return this.#live.size;
  }

  /** Connects to the sandbox's agent and tracks it; rejects (nothing tracked) if the agent does not answer. */
  async attach(id: string, runtime: Runtime, handle: SandboxHandle, defaults: ImageDefaults): Promise<LiveSandbox> {
    const conn = await AgentConnection.connect(handle.transport, {
      timeoutMs: this.#o.readyTimeoutMs,
      limits: this.#o.limits,
      log: this.#o.log.child({ sandbox: id }),
    });
    let settle!: (info: StopInfo) => void;
    const stopped = new Promise<StopInfo>((resolve) => (settle = resolve));
    let settled = false;
    const log = this.#o.log.child({ sandbox: id });
    const processes = new SandboxProcesses(
      conn,
      join(this.#o.journals.dir, id),
      this.#o.journals.limits,
      log,
      {
        oomKills: () => live.oomKills,
        oomSince: async (before) => {
          // The kill was counted before the process died; read the counter now to know whose it was.
          await handle.sync().catch(() => {});
          return live.oomKills > before;
        },
        stopped: () => stopped,
      },
      {
        started: (entry) => this.#o.onProcess?.(id, runtime, 'started', entry),
        ended: (entry) => this.#o.onProcess?.(id, runtime, 'ended', entry),
      },
    );
    const live: LiveSandbox = {
      id,
      conn,
      handle,
      runtime,
      defaults,
      processes,
      oomKills: 0,
      missedPings: 0,
      unresponsiveSince: null,
      stopped,
      settle: (info) => {
        if (settled) return;
        settled = true;
        settle(info);
      },
    };
    // Two counts: what the runtime's host side saw, and what the agent's guest watch killed (gVisor).
    let hostKills = 0;
    let guestKills = 0;
    handle.subscribe((e) => {
      if (e.type === 'oom') hostKills = e.kills;
      live.oomKills = hostKills + guestKills;
    });
    conn.onOom(() => {
      guestKills++;
      live.oomKills = hostKills + guestKills;
    });
    await handle.sync().catch((err: unknown) => this.#o.log.warn({ err, sandbox: id }, 'reading the OOM counter failed'));
    this.#live.set(id, live);
    conn.onClose((err) => void this.#closed(live, err));
    // The agent's processes outlive a server: follow them again (a fresh sandbox has none).
    await processes.reattach().catch((err: unknown) => log.warn({ err }, 'could not list the processes of the sandbox'));
    return live;
  }

  /** Stops tracking the sandbox and closes its channel (teardown does this first, so the close is not news). */
  detach(id: string, info: StopInfo): LiveSandbox | undefined {
    const live = this.#live.get(id);
    if (!live) return undefined;
    this.#live.delete(id);
    live.settle(info);
    live.conn.close();
    live.handle.close();
    void live.processes.destroy();
    return live;
  }

  /** Closes every channel; the sandboxes keep running for the next start to adopt. */
  closeAll(): void {
    // Untracked first: these closes are the server's own, not news of a stopped sandbox.
    const all = [...this.#live.values()];
    this.#live.clear();
    for (const live of all) {
      live.settle({ reason: null, detail: 'the server is shutting down' });
      void live.processes.close();
      live.conn.close();
      live.handle.close();
    }
  }

  async #closed(live: LiveSandbox, err: Error): Promise<void> {
    if (this.#live.get(live.id) !== live) return; // detached on purpose
    this.#live.delete(live.id);
    let info: StopInfo;
    if (err instanceof AgentProtocolError) {
      info = { reason: 'agent_protocol', detail: `its agent broke the protocol: ${err.message}` };
    } else {
      const ended = await live.handle.ended().catch(() => ({ oom: false, detail: undefined }));
      info = ended.oom ? { reason: 'oom', detail: ended.detail ?? 'the memory limit ended it' } : { reason: 'exited', detail: 'its init process exited' };
    }
    live.settle(info);
    live.handle.close();
    void live.processes.destroy();
    this.#o.onStopped(live, info);
  }
}
