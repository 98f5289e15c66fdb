/**
 * @module process-service
 * The process operations of the API, by sandbox id and process id: background starts, the
 * registry, waiting, signals, stdin, resize, readers of the journal, forgetting. 404 for an unknown
 * process, 409 for what its state does not allow (a signal to one that exited, a resize of one that
 * has no terminal).
 */
import { ErrorCode } from '@airlock/protocol/errors';
import { AirlockError } from '../errors.js';
import type { LiveSandbox } from '../sandbox/live.js';
import { startSpec, type ExecCommand } from '../sandbox/exec-run.js';
import type { JournalReader, ReaderOptions } from './journal-reader.js';
import type { ProcessEntry } from './process-entry.js';

export interface ProcessServiceDeps {
  /** The running sandbox (404 / 409 as for exec) and its environment. */
  live(action: string, id: string): Promise<{ live: LiveSandbox; env: Record<string, string> }>;
  rootInside(live: LiveSandbox, user: string | undefined): void;
}

export class ProcessService {
  readonly #d: ProcessServiceDeps;

  constructor(deps: ProcessServiceDeps) {
    this.#d = deps;
  }

  /** Starts a process that outlives every request; answers once it runs. */
  async start(sandboxId: string, cmd: ExecCommand): Promise<ProcessEntry> {
    const { live, env } = await this.#d.live('start a process in', sandboxId);
    this.#d.rootInside(live, cmd.user);
    const spec = startSpec({ processes: live.processes, defaults: live.defaults, sandboxEnv: env }, { ...cmd, keepStdin: cmd.keepStdin ?? true }, false);
    const entry = await live.processes.start(spec);
    if (cmd.stdin !== undefined) await entry.channel?.writeStdin(cmd.stdin);
    return entry;
  }

  async list(sandboxId: string, tag?: string): Promise<ProcessEntry[]> {
    return (await this.#processes(sandboxId)).list({ tag });
  }

  async get(sandboxId: string, pid: string): Promise<ProcessEntry> {
    return (await this.#processes(sandboxId)).get(pid);
  }

  async wait(sandboxId: string, pid: string, timeoutMs: number): Promise<ProcessEntry> {
    const e = await this.get(sandboxId, pid);
    await e.waitEnd(timeoutMs);
    return e;
  }

  async signal(sandboxId: string, pid: string, signo: number): Promise<void> {
    (await this.#processes(sandboxId)).running(pid, 'signal').signal(signo);
  }

  async writeStdin(sandboxId: string, pid: string, data: AsyncIterable<Uint8Array>, close: boolean): Promise<number> {
    const procs = await this.#processes(sandboxId);
    const e = procs.get(pid);
    const ch = procs.running(pid, 'write to the stdin of');
    if (!e.facts.keepStdin) throw new AirlockError(ErrorCode.InvalidState, `process ${pid} was started without stdin (keepStdin: false)`);
    let bytes = 0;
    for await (const chunk of data) {
      bytes += chunk.length;
      await ch.writeStdin(chunk);
    }
    if (close) this.#closeStdinOf(e, ch);
    return bytes;
  }

  async closeStdin(sandboxId: string, pid: string): Promise<void> {
    const procs = await this.#processes(sandboxId);
    this.#closeStdinOf(procs.get(pid), procs.running(pid, 'close the stdin of'));
  }

  async resize(sandboxId: string, pid: string, cols: number, rows: number): Promise<ProcessEntry> {
    const procs = await this.#processes(sandboxId);
    const e = procs.get(pid);
    if (!e.facts.pty) throw new AirlockError(ErrorCode.InvalidState, `process ${pid} has no terminal to resize (start it with pty)`);
    procs.running(pid, 'resize').resize(cols, rows);
    e.facts.cols = cols;
    e.facts.rows = rows;
    return e;
  }

  async reader(sandboxId: string, pid: string, from: number, options: ReaderOptions): Promise<{ entry: ProcessEntry; reader: JournalReader }> {
    const e = await this.get(sandboxId, pid);
    return { entry: e, reader: e.reader(from, options) };
  }

  async forget(sandboxId: string, pid: string): Promise<void> {
    await (await this.#processes(sandboxId)).forget(pid);
  }

  #closeStdinOf(e: ProcessEntry, ch: NonNullable<ProcessEntry['channel']>): void {
    if (e.facts.pty)
      throw new AirlockError(
        ErrorCode.InvalidState,
        `process ${e.facts.id} runs on a terminal, which has no end of input; send Ctrl-D (\\u0004) as input instead`,
      );
    ch.closeStdin();
  }

  async #processes(sandboxId: string) {
    return (await this.#d.live('use the processes of', sandboxId)).live.processes;
  }
}
