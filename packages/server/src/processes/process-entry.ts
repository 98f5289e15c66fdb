/**
 * @module process-entry
 * One process of a sandbox as the server follows it: what the agent says of it, its journal, the
 * agent channel its output arrives on, and its readers. Output goes to the journal; what the journal
 * has written, and every pacing reader has taken, is acknowledged to the agent, so the agent frees
 * it and may send more. Its end (an exit, a timeout, the memory limit, the sandbox stopping) is told
 * apart once, here.
 */
import type { ExitReason } from '@airlock/protocol';
import type { ProcessChannel, ProcessSink, Stream } from '../agent-channel/process-channel.js';
import type { ProcessJournal } from './journal.js';
import { JournalReader, type ReaderOptions } from './journal-reader.js';

export interface ProcessExit {
  code: number | null;
  signal: number | null;
  reason: ExitReason;
  detail?: string;
}

export interface ProcessFacts {
  id: string;
  tag: string;
  command: string;
  pty: boolean;
  /** Dies with its client (a plain exec that did not ask to survive it). */
  foreground: boolean;
  keepStdin: boolean;
  cols: number;
  rows: number;
  startedMs: number;
}

export interface EntryHooks {
  /** How a process killed by SIGKILL died: the memory limit, or not (reads the runtime's counter). */
  oomSince(kills: number): Promise<boolean>;
  oomKills(): number;
  /** Why the sandbox stopped, once its channel closed. */
  stopped(): Promise<{ reason: string | null; detail: string }>;
  ended(entry: ProcessEntry): void;
}

const ACK_BATCH = 32 * 1024;
const SIGKILL = 9;

export class ProcessEntry {
  readonly facts: ProcessFacts;
  readonly journal: ProcessJournal;
  readonly #hooks: EntryHooks;
  readonly #readers = new Set<JournalReader>();
  readonly #acked: [number, number] = [0, 0];
  readonly #oomBefore: number;
  channel: ProcessChannel | undefined;
  pid = 0;
  exit: ProcessExit | undefined;
  endedMs: number | null = null;
  timedOut = false;
  #timer: NodeJS.Timeout | undefined;
  #waiters: (() => void)[] = [];

  constructor(facts: ProcessFacts, journal: ProcessJournal, hooks: EntryHooks) {
    this.facts = facts;
    this.journal = journal;
    this.#hooks = hooks;
    this.#oomBefore = hooks.oomKills();
    journal.onWritten(() => this.#ack());
  }

  get state(): 'starting' | 'running' | 'exited' {
    return this.exit ? 'exited' : this.channel ? 'running' : 'starting';
  }

  /** What the channel delivers goes to the journal. */
  sink(): ProcessSink {
    return {
      data: (stream: Stream, offset: number, data: Buffer) => this.journal.append(stream, offset, data),
      exited: (status) => void this.#exited(status),
      lost: (err) => void this.#lost(err),
    };
  }

  bind(channel: ProcessChannel): void {
    this.channel = channel;
    this.pid = channel.pid;
    this.#acked[0] = channel.from[0];
    this.#acked[1] = channel.from[1];
    this.#ack();
  }

  /** Kills the process group at `deadlineMs` (epoch ms; at once if it has passed), as long as this server runs. */
  setDeadline(deadlineMs: number): void {
    this.#timer = setTimeout(
      () => {
        this.timedOut = true;
        this.channel?.signal(SIGKILL);
      },
      Math.max(0, deadlineMs - Date.now()),
    );
    this.#timer.unref();
  }

  reader(from: number, options: ReaderOptions): JournalReader {
    const r = new JournalReader(this.journal, from, options, () => {
      if (!r.pacing) this.#readers.delete(r);
      this.#ack();
    });
    this.#readers.add(r);
    return r;
  }

  /** Resolves once the process ended (or after `timeoutMs`). */
  async waitEnd(timeoutMs: number): Promise<void> {
    if (this.exit) return;
    await new Promise<void>((resolve) => {
      const t = setTimeout(resolve, timeoutMs);
      this.#waiters.push(() => {
        clearTimeout(t);
        resolve();
      });
    });
  }

  /** The agent forgot it, or it was ended elsewhere: readers see the end. */
  close(): void {
    clearTimeout(this.#timer);
    for (const r of this.#readers) r.close();
    this.journal.end();
  }

  #ack(): void {
    const ch = this.channel;
    if (!ch || this.exit) return;
    const to: [number, number] = [this.journal.streamWritten[0], this.journal.streamWritten[1]];
    for (const r of this.#readers) {
      if (!r.pacing) continue;
      to[0] = Math.min(to[0], r.consumed[0]);
      to[1] = Math.min(to[1], r.consumed[1]);
    }
    const progress = to[0] - this.#acked[0] + (to[1] - this.#acked[1]);
    if (progress <= 0) return;
    const caughtUp = to[0] === this.journal.streamHead[0] && to[1] === this.journal.streamHead[1];
    if (progress < ACK_BATCH && !caughtUp) return;
    this.#acked[0] = to[0];
    this.#acked[1] = to[1];
    ch.ack(to);
  }

  async #exited(status: { code: number | null; signal: number | null }): Promise<void> {
    let reason: ExitReason = status.signal === null ? 'exit' : 'signal';
    if (this.timedOut) reason = 'timeout';
    else if (status.signal === SIGKILL && (await this.#hooks.oomSince(this.#oomBefore).catch(() => false))) reason = 'oom';
    this.#finish({ code: status.code, signal: status.signal, reason });
  }

  async #lost(err: Error): Promise<void> {
    if (this.exit) return;
    const why = await this.#hooks.stopped();
    const reason: ExitReason = this.timedOut ? 'timeout' : why.reason === 'oom' ? 'oom' : 'sandbox_stopped';
    this.#finish({ code: null, signal: null, reason, detail: why.detail || err.message });
  }

  /** Records the end as the agent reported it (a process that ended while no server followed it). */
  ended(exit: ProcessExit, endedMs: number | null): void {
    this.#finish(exit, endedMs ?? Date.now());
  }

  #finish(exit: ProcessExit, endedMs = Date.now()): void {
    if (this.exit) return;
    clearTimeout(this.#timer);
    this.exit = exit;
    this.endedMs = endedMs;
    this.channel = undefined;
    this.journal.end();
    for (const w of this.#waiters.splice(0)) w();
    this.#hooks.ended(this);
  }
}
