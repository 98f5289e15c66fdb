/**
 * @module processes
 * A sandbox's processes as the server sees them: the agent's registry mirrored, each process with
 * its journal on disk and, while it runs, the agent channel its output arrives on. Every exec is a
 * process here. After a (re)connect `reattach` lists the agent's registry and subscribes to every
 * process again from the offsets its journal holds, so a restart of the server loses no output; a
 * plain exec whose client died with the old server is killed then, as its client is gone.
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ProcInfo } from '@airlock/agent';
import { ErrorCode } from '@airlock/protocol/errors';
import type { AgentConnection } from '../agent-channel/agent-connection.js';
import { AgentOpError, AgentProtocolError, AgentTimeoutError } from '../agent-channel/errors.js';
import { forgetProcess, listProcesses, openProcess, type ProcessChannel } from '../agent-channel/process-channel.js';
import { AirlockError, notFound } from '../errors.js';
import type { Logger } from '../log.js';
import { ProcessJournal, type JournalLimits } from './journal.js';
import { ProcessEntry, type EntryHooks, type ProcessFacts } from './process-entry.js';

export interface ProcessLimits {
  journal: JournalLimits;
  /** Unacknowledged output the agent holds per stream before the process blocks. */
  ringBytes: number;
  /** Ended processes kept listed (oldest forgotten first). */
  keepExited: number;
  startTimeoutMs: number;
  opTimeoutMs: number;
}

export interface StartSpec {
  argv: string[];
  env: string[];
  cwd: string;
  user: string;
  keepStdin: boolean;
  tag?: string | undefined;
  pty?: { cols: number; rows: number } | undefined;
  foreground: boolean;
  timeout?: number | undefined;
}

/** Told when a process of this sandbox started and when it ended (metrics and lifecycle events). */
export interface ProcessWatch {
  started(entry: ProcessEntry): void;
  ended(entry: ProcessEntry): void;
}

const SIGKILL = 9;
/**
 * The ids this server gives (start). An id read back from the agent names a directory on the host,
 * and the agent is untrusted: anything else is not adopted.
 */
const PROCESS_ID = /^proc-[0-9a-f]{16}$/;

export class SandboxProcesses {
  readonly #conn: AgentConnection;
  readonly #dir: string;
  readonly #limits: ProcessLimits;
  readonly #log: Logger;
  readonly #hooks: Omit<EntryHooks, 'ended'>;
  readonly #entries = new Map<string, ProcessEntry>();
  readonly #watch: ProcessWatch | undefined;

  constructor(conn: AgentConnection, dir: string, limits: ProcessLimits, log: Logger, hooks: Omit<EntryHooks, 'ended'>, watch?: ProcessWatch) {
    this.#watch = watch;
    this.#conn = conn;
    this.#dir = dir;
    this.#limits = limits;
    this.#log = log;
    this.#hooks = hooks;
  }

  /** Lists the agent's registry and follows every process again; journals nobody lists any more go. */
  async reattach(): Promise<void> {
    const infos = await listProcesses(this.#conn, this.#limits.opTimeoutMs);
    const known = new Set(infos.map((i) => i.id));
    for (const name of safeReaddir(this.#dir)) if (!known.has(name)) rmSync(join(this.#dir, name), { recursive: true, force: true });
    for (const info of infos) {
      if (!PROCESS_ID.test(info.id)) {
        this.#log.warn({ process: info.id.slice(0, 64) }, 'the agent lists a process id this server never gave; not following it');
        continue;
      }
      await this.#adopt(info).catch((err: unknown) =>
        this.#log.warn(
          { err, process: info.id },
          err instanceof AgentTimeoutError ? 'the agent did not answer in time; the process is followed once it does' : 'could not follow a process again',
        ),
      );
    }
    this.#evict();
  }

  async start(spec: StartSpec): Promise<ProcessEntry> {
    const id = `proc-${randomBytes(8).toString('hex')}`;
    const facts: ProcessFacts = {
      id,
      tag: spec.tag ?? '',
      command: spec.argv.join(' ').slice(0, 512),
      pty: spec.pty !== undefined,
      foreground: spec.foreground,
      keepStdin: spec.keepStdin || spec.pty !== undefined,
      cols: spec.pty?.cols ?? 0,
      rows: spec.pty?.rows ?? 0,
      startedMs: Date.now(),
    };
    const entry = this.#entry(facts);
    this.#entries.set(id, entry);
    try {
      const ch = await openProcess(
        this.#conn,
        {
          spec: {
            argv: spec.argv,
            env: spec.env,
            cwd: spec.cwd,
            user: spec.user,
            keepStdin: spec.keepStdin,
            id,
            tag: facts.tag,
            ringBytes: this.#limits.ringBytes,
            pty: spec.pty,
            foreground: spec.foreground,
          },
        },
        entry.sink(),
        { startTimeoutMs: this.#limits.startTimeoutMs },
      );
      entry.bind(ch);
    } catch (e) {
      this.#entries.delete(id);
      void entry.journal.remove();
      throw startError(spec.argv[0] ?? '', e);
    }
    if (spec.timeout !== undefined) {
      const deadlineMs = Date.now() + spec.timeout * 1000;
      // Next to its journal, so that a server started after a crash kills it on time too.
      writeDeadline(join(this.#dir, id), deadlineMs);
      entry.setDeadline(deadlineMs);
    }
    this.#watch?.started(entry);
    return entry;
  }

  list(filter: { tag?: string | undefined } = {}): ProcessEntry[] {
    return [...this.#entries.values()].filter((e) => filter.tag === undefined || e.facts.tag === filter.tag);
  }

  get(id: string): ProcessEntry {
    const e = this.#entries.get(id);
    if (!e) throw notFound(`process ${id}`);
    return e;
  }

  /** A running process's channel, or 409 naming why there is none. */
  running(id: string, action: string): NonNullable<ProcessEntry['channel']> {
    const e = this.get(id);
    if (e.exit || !e.channel) throw new AirlockError(ErrorCode.InvalidState, `cannot ${action} process ${id}: it has ${e.exit ? 'exited' : 'not started'}`);
    return e.channel;
  }

  /** Forgets an ended process: the agent's record and the journal go. */
  async forget(id: string): Promise<void> {
    const e = this.get(id);
    if (!e.exit) throw new AirlockError(ErrorCode.InvalidState, `process ${id} is still running; signal it first`);
    this.#entries.delete(id);
    e.close();
    await forgetProcess(this.#conn, id, this.#limits.opTimeoutMs).catch((err: unknown) => {
      if (!(err instanceof AgentOpError)) throw err;
    });
    await e.journal.remove();
  }

  /** The server is closing: journals stay on disk for the next start. */
  async close(): Promise<void> {
    for (const e of this.#entries.values()) {
      e.close();
      await e.journal.close();
    }
    this.#entries.clear();
  }

  /** The sandbox is gone: so is every journal. */
  async destroy(): Promise<void> {
    await this.close();
    rmSync(this.#dir, { recursive: true, force: true });
  }

  #entry(facts: ProcessFacts): ProcessEntry {
    const journal = ProcessJournal.open(join(this.#dir, facts.id), this.#limits.journal);
    return new ProcessEntry(facts, journal, {
      ...this.#hooks,
      ended: (entry) => {
        this.#evict();
        this.#watch?.ended(entry);
      },
    });
  }

  async #adopt(info: ProcInfo): Promise<void> {
    const entry = this.#entry({
      id: info.id,
      tag: info.tag,
      command: info.command,
      pty: info.pty,
      foreground: info.foreground,
      keepStdin: info.keepStdin || info.pty,
      cols: info.cols,
      rows: info.rows,
      startedMs: info.startedMs,
    });
    this.#entries.set(info.id, entry);
    entry.pid = info.pid;
    const from: [number, number] = [entry.journal.streamWritten[0], entry.journal.streamWritten[1]];
    const all = info.acked[0] === info.head[0] && info.acked[1] === info.head[1];
    if (info.state === 'exited' && all && from[0] >= info.head[0] && from[1] >= info.head[1]) {
      entry.ended({ code: info.exit?.code ?? null, signal: info.exit?.signal ?? null, reason: info.exit?.signal ? 'signal' : 'exit' }, info.endedMs);
      return;
    }
    const follow = (ch: ProcessChannel) => {
      const deadlineMs = readDeadline(join(this.#dir, info.id));
      if (deadlineMs !== undefined && info.state !== 'exited') entry.setDeadline(deadlineMs);
      if (ch.gap[0] || ch.gap[1]) this.#log.warn({ process: info.id, from, agentFrom: ch.from }, 'a process journal had lost output the agent no longer holds');
      entry.bind(ch);
      // Its client was a request of the server that died: nobody will read it, as before the restart.
      if (info.foreground && info.state !== 'exited') ch.signal(SIGKILL);
    };
    // The agent answering later than startTimeoutMs (a loaded host, many sandboxes adopted at once)
    // does not leave the process listed as starting for the rest of this server's run: the late
    // answer is followed as this one would have been, unless the table forgot the process meanwhile.
    const followLate = (ch: ProcessChannel): boolean => {
      if (this.#entries.get(info.id) !== entry) return false;
      this.#log.info({ process: info.id }, 'the agent answered late; following the process again');
      follow(ch);
      return true;
    };
    follow(await openProcess(this.#conn, { id: info.id, from }, entry.sink(), { startTimeoutMs: this.#limits.startTimeoutMs, followLate }));
  }

  /** Keeps at most keepExited ended processes (the agent keeps as many; the host forgets first). */
  #evict(): void {
    const ended = [...this.#entries.values()].filter((e) => e.exit).sort((a, b) => (a.endedMs ?? 0) - (b.endedMs ?? 0));
    for (const e of ended.slice(0, Math.max(0, ended.length - this.#limits.keepExited))) {
      void this.forget(e.facts.id).catch((err: unknown) => this.#log.debug({ err, process: e.facts.id }, 'evicting an ended process failed'));
    }
  }
}

const DEADLINE_FILE = 'deadline';

function writeDeadline(dir: string, deadlineMs: number): void {
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, DEADLINE_FILE), String(deadlineMs));
}

/** The deadline this server's earlier run recorded (its own file: a number or nothing). */
function readDeadline(dir: string): number | undefined {
  try {
    const n = Number(readFileSync(join(dir, DEADLINE_FILE), 'utf8'));
    return Number.isSafeInteger(n) && n > 0 ? n : undefined;
  } catch {
    return undefined;
  }
}

function safeReaddir(dir: string): string[] {
  try {
    return readdirSync(dir);
  } catch {
    return [];
  }
}

export function startError(argv0: string, e: unknown): unknown {
  if (e instanceof AirlockError) return e;
  if (e instanceof AgentOpError) {
    if (e.errno === 11) return new AirlockError(ErrorCode.Capacity, `cannot start ${JSON.stringify(argv0)}: ${e.message}`);
    return new AirlockError(ErrorCode.ExecFailed, `cannot start ${JSON.stringify(argv0)}: ${e.message}`);
  }
  if (e instanceof AgentTimeoutError)
    return new AirlockError(ErrorCode.AgentUnresponsive, `${e.message}; the sandbox may be overloaded or frozen (it can be destroyed)`);
  if (e instanceof AgentProtocolError)
    return new AirlockError(ErrorCode.InvalidState, `the sandbox was stopped before the command started: its agent broke the protocol (${e.message})`);
  return new AirlockError(ErrorCode.InvalidState, `the sandbox stopped before the command started (${(e as Error).message})`);
}
