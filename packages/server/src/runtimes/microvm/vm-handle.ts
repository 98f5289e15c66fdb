/**
 * @module vm-handle
 * The SandboxHandle of a microVM. The transport is the shim's socket, as for the other runtimes.
 * OOM kills happen inside the guest, so the host cgroup cannot count them: the guest kernel reports
 * each on its console ("Out of memory: Killed process …", an error-level message, which is what the
 * console passes), and sync() takes the console ring over QMP and counts those reports.
 *
 * Trust: guest root can write to the console too, so it can forge a report (or hide one by
 * flooding the ring). Either only misreports its own sandbox's execs; nothing else reads the console.
 */
import { readConsole } from '../../host/vm/qmp.js';
import type { AgentTransport, EnforcedLimits, SandboxEvent, SandboxHandle } from '../runtime.js';

const KILL_REPORT = /[Oo]ut of memory[^\n]*: Killed process \d+/g;

export interface VmHandleOptions {
  transport: AgentTransport;
  enforced: EnforcedLimits;
  qmpSocket: string;
  consoleBytes: number;
}

export class VmSandboxHandle implements SandboxHandle {
  readonly transport: AgentTransport;
  readonly enforced: EnforcedLimits;
  readonly #o: VmHandleOptions;
  readonly #listeners = new Set<(e: SandboxEvent) => void>();
  #kills = 0;
  #partial = '';

  constructor(o: VmHandleOptions) {
    this.#o = o;
    this.transport = o.transport;
    this.enforced = o.enforced;
  }

  subscribe(listener: (e: SandboxEvent) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  async sync(): Promise<void> {
    let text: string;
    try {
      text = await readConsole(this.#o.qmpSocket, this.#o.consoleBytes);
    } catch {
      return; // the VM is gone: nothing more to count
    }
    this.absorb(text);
  }

  /** Counts the OOM reports in console text read elsewhere (during boot). */
  absorb(text: string): void {
    // A report may straddle two reads: keep the unfinished last line.
    const all = this.#partial + text;
    const cut = all.lastIndexOf('\n');
    this.#partial = cut < 0 ? all.slice(-512) : all.slice(cut + 1).slice(-512);
    const found = (cut < 0 ? '' : all.slice(0, cut)).match(KILL_REPORT)?.length ?? 0;
    if (found > 0) {
      this.#kills += found;
      for (const l of this.#listeners) l({ type: 'oom', kills: this.#kills });
    }
  }

  async ended(): Promise<{ oom: boolean; detail?: string }> {
    // The agent is the guest's init, which the OOM killer never picks: the guest's memory limit
    // cannot end the sandbox; a guest that stops has powered off or crashed.
    return { oom: false, detail: 'the guest powered off' };
  }

  close(): void {
    this.#listeners.clear();
  }
}
