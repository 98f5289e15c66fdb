/**
 * @module exec-run
 * Runs one command in a live sandbox and turns what the agent reports into exec events: timeout,
 * OOM attribution (the runtime counted a kill by the memory limit while it ran) and the sandbox going
 * away mid-command are told apart, so a user learns how the process really ended.
 */
import type { ExitReason, StopReason } from '@airlock/protocol';
import { ErrorCode } from '@airlock/protocol/errors';
import { AgentOpError, AgentProtocolError, AgentTimeoutError } from '../agent-channel/errors.js';
import type { AgentConnection } from '../agent-channel/agent-connection.js';
import { startExec } from '../agent-channel/exec.js';
import { AirlockError } from '../errors.js';
import type { ImageDefaults } from '../images/image.js';
import { OutputQueue } from './output-queue.js';

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
}

export interface ExecContext {
  conn: AgentConnection;
  defaults: ImageDefaults;
  sandboxEnv: Record<string, string>;
  /** OOM kills the runtime has counted for the sandbox so far. */
  oomKills(): number;
  /** Brings oomKills() up to date with the runtime (reads its counters). */
  syncOom(): Promise<void>;
  /** Resolves, once the sandbox's channel closed, with why the sandbox stopped, in words too. */
  stopped(): Promise<{ reason: StopReason | null; detail: string }>;
  startTimeoutMs: number;
}

export interface StartedExec {
  pid: number;
  events: OutputQueue;
}

const SIGKILL = 9;

export async function runExec(ctx: ExecContext, cmd: ExecCommand): Promise<StartedExec> {
  const argv = cmd.argv ?? ctx.defaults.command;
  if (argv.length === 0) throw new AirlockError(ErrorCode.InvalidRequest, 'cmd is required: the image has no default command (Entrypoint/Cmd)');
  const env = mergeEnv(ctx.defaults.env, ctx.sandboxEnv, cmd.env ?? {});
  const stdin = cmd.stdin;
  const oomBefore = ctx.oomKills();
  const startedAt = performance.now();
  let timedOut = false;
  let timer: NodeJS.Timeout | undefined;
  const queue = new OutputQueue();

  let running;
  try {
    running = await startExec(
      ctx.conn,
      { argv, env, cwd: cmd.cwd ?? (cmd.user === undefined ? ctx.defaults.cwd : ''), user: cmd.user ?? ctx.defaults.user, keepStdin: stdin !== undefined },
      { stdout: (data) => queue.push({ type: 'stdout', data }), stderr: (data) => queue.push({ type: 'stderr', data }) },
      { startTimeoutMs: ctx.startTimeoutMs },
    );
  } catch (e) {
    if (e instanceof AirlockError) throw e;
    if (e instanceof AgentOpError) throw new AirlockError(ErrorCode.ExecFailed, `cannot start ${JSON.stringify(argv[0])}: ${e.message}`);
    if (e instanceof AgentTimeoutError) throw new AirlockError(ErrorCode.AgentUnresponsive, `${e.message}; the sandbox may be overloaded or frozen (it can be destroyed)`);
    if (e instanceof AgentProtocolError) throw new AirlockError(ErrorCode.InvalidState, `the sandbox was stopped before the command started: its agent broke the protocol (${e.message})`);
    throw new AirlockError(ErrorCode.InvalidState, `the sandbox stopped before the command started (${(e as Error).message})`);
  }
  queue.bind({
    credit: (n) => running.credit(n),
    abandon: () => running.abandon(),
    violation: (message) => ctx.conn.fail(message),
  });

  if (cmd.timeout !== undefined) {
    timer = setTimeout(() => {
      timedOut = true;
      running.signal(SIGKILL);
    }, cmd.timeout * 1000);
  }
  if (stdin !== undefined) {
    running
      .writeStdin(stdin)
      .then(() => running.closeStdin())
      .catch(() => {}); // the process may exit without reading its stdin; the exit event says what happened
  }

  running.exited.then(
    async (status) => {
      clearTimeout(timer);
      let reason: ExitReason = status.signal === null ? 'exit' : 'signal';
      if (timedOut) reason = 'timeout';
      else if (status.signal === SIGKILL) {
        // The kill was counted before the process died; read the counter now to know whose it was.
        await ctx.syncOom().catch(() => {});
        if (ctx.oomKills() > oomBefore) reason = 'oom';
      }
      queue.push({ type: 'exit', exitCode: status.code, signal: status.signal, reason, durationMs: elapsed(startedAt) });
    },
    async () => {
      clearTimeout(timer);
      const why = await ctx.stopped();
      queue.push({
        type: 'exit',
        exitCode: null,
        signal: null,
        reason: timedOut ? 'timeout' : why.reason === 'oom' ? 'oom' : 'sandbox_stopped',
        detail: why.detail,
        durationMs: elapsed(startedAt),
      });
    },
  );
  return { pid: running.pid, events: queue };
}

function mergeEnv(...layers: (string[] | Record<string, string>)[]): string[] {
  const merged = new Map<string, string>();
  for (const layer of layers) {
    const entries = Array.isArray(layer) ? layer.map((kv) => kv.split(/=(.*)/s, 2) as [string, string]) : Object.entries(layer);
    for (const [k, v] of entries) merged.set(k, v ?? '');
  }
  return [...merged].map(([k, v]) => `${k}=${v}`);
}

function elapsed(since: number): number {
  return Math.round((performance.now() - since) * 1000) / 1000;
}
