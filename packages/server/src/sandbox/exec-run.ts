/**
 * @module exec-run
 * Runs one command in a live sandbox as a process of its registry and turns its journal into exec
 * events. The exec's own client reads as a pacing reader, so a client that reads slowly holds the
 * command back (as it always has), and one that goes away kills it, unless the exec asked to survive
 * its client: then the process goes on, and can be listed and attached to later.
 */
import type { ExitReason } from '@airlock/protocol';
import { ErrorCode } from '@airlock/protocol/errors';
import { AirlockError } from '../errors.js';
import type { ImageDefaults } from '../images/image.js';
import type { ProcessEntry } from '../processes/process-entry.js';
import type { SandboxProcesses, StartSpec } from '../processes/processes.js';

/** A command as the domain sees it: the API has validated and decoded it. */
export interface ExecCommand {
  /** argv; undefined: the image's default command. */
  argv?: string[] | undefined;
  env?: Record<string, string> | undefined;
  cwd?: string | undefined;
  user?: string | undefined;
  stdin?: Buffer | undefined;
  /** Seconds. */
  timeout?: number | undefined;
  /** Keep running when the client goes away (the process stays in the registry either way). */
  survive?: boolean | undefined;
  tag?: string | undefined;
  /** Keep stdin open for later writes (background processes). */
  keepStdin?: boolean | undefined;
  pty?: { cols: number; rows: number } | undefined;
}

export interface ExecContext {
  processes: SandboxProcesses;
  defaults: ImageDefaults;
  sandboxEnv: Record<string, string>;
}

export type OutputEvent =
  | { type: 'stdout'; data: Buffer }
  | { type: 'stderr'; data: Buffer }
  | { type: 'exit'; exitCode: number | null; signal: number | null; reason: ExitReason; durationMs: number; detail?: string };

export interface StartedExec {
  pid: number;
  processId: string;
  events: ExecEvents;
}

const SIGKILL = 9;

/** The spec of a process from a command: the image's defaults, then the sandbox's env, then the command's. */
export function startSpec(ctx: ExecContext, cmd: ExecCommand, foreground: boolean): StartSpec {
  const argv = cmd.argv ?? ctx.defaults.command;
  if (argv.length === 0) throw new AirlockError(ErrorCode.InvalidRequest, 'cmd is required: the image has no default command (Entrypoint/Cmd)');
  const env = mergeEnv(ctx.defaults.env, cmd.pty ? { TERM: 'xterm-256color' } : {}, ctx.sandboxEnv, cmd.env ?? {});
  return {
    argv,
    env,
    cwd: cmd.cwd ?? (cmd.user === undefined ? ctx.defaults.cwd : ''),
    user: cmd.user ?? ctx.defaults.user,
    keepStdin: cmd.stdin !== undefined || cmd.keepStdin === true,
    tag: cmd.tag,
    pty: cmd.pty,
    foreground,
    timeout: cmd.timeout,
  };
}

export async function runExec(ctx: ExecContext, cmd: ExecCommand): Promise<StartedExec> {
  const startedAt = performance.now();
  const entry = await ctx.processes.start(startSpec(ctx, cmd, cmd.survive !== true));
  if (cmd.stdin !== undefined) {
    const ch = entry.channel!;
    ch.writeStdin(cmd.stdin)
      .then(() => ch.closeStdin())
      .catch(() => {}); // the process may exit without reading its stdin; the exit event says what happened
  }
  return { pid: entry.pid, processId: entry.facts.id, events: new ExecEvents(entry, cmd.survive !== true, startedAt) };
}

/** The exec's events, read from its journal by a pacing reader from the first byte. */
export class ExecEvents implements AsyncIterable<OutputEvent> {
  readonly #entry: ProcessEntry;
  readonly #killOnAbandon: boolean;
  readonly #startedAt: number;
  readonly #reader;
  #abandoned = false;

  constructor(entry: ProcessEntry, killOnAbandon: boolean, startedAt: number) {
    this.#entry = entry;
    this.#killOnAbandon = killOnAbandon;
    this.#startedAt = startedAt;
    this.#reader = entry.reader(0, { onGap: 'skip', pace: true });
  }

  /** The client is gone: kill the command (unless it survives its client) and stop reading. */
  abandon(): void {
    if (this.#abandoned) return;
    this.#abandoned = true;
    if (this.#killOnAbandon && !this.#entry.exit) this.#entry.channel?.signal(SIGKILL);
    this.#reader.close();
  }

  async *[Symbol.asyncIterator](): AsyncIterator<OutputEvent> {
    let finished = false;
    try {
      for (;;) {
        const items = await this.#reader.next();
        if (items === 'end') break;
        for (const it of items) if (it.type === 'data') yield { type: it.stream === 0 ? 'stdout' : 'stderr', data: it.data };
        this.#reader.took();
      }
      if (this.#abandoned) return;
      const exit = this.#entry.exit ?? { code: null, signal: null, reason: 'sandbox_stopped' as const };
      finished = true;
      const durationMs = Math.round((performance.now() - this.#startedAt) * 1000) / 1000;
      yield {
        type: 'exit',
        exitCode: exit.code,
        signal: exit.signal,
        reason: exit.reason,
        durationMs,
        ...(exit.detail !== undefined ? { detail: exit.detail } : {}),
      };
    } finally {
      // The consumer stopped before the end (e.g. the client disconnected): stop the process.
      if (!finished) this.abandon();
      else this.#reader.close();
    }
  }
}

export function mergeEnv(...layers: (string[] | Record<string, string>)[]): string[] {
  const merged = new Map<string, string>();
  for (const layer of layers) {
    const entries = Array.isArray(layer) ? layer.map((kv) => kv.split(/=(.*)/s, 2) as [string, string]) : Object.entries(layer);
    for (const [k, v] of entries) merged.set(k, v ?? '');
  }
  return [...merged].map(([k, v]) => `${k}=${v}`);
}
