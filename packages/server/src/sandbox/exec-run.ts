/**
 * @module exec-run
 * Runs one command in a live sandbox and turns what the agent reports into exec events: timeout,
 * OOM attribution (the sandbox's memory cgroup counted a kill while it ran) and the sandbox going
 * away mid-command are told apart, so a user learns how the process really ended.
 */
import type { ExecRequest, ExitReason } from '@airlock/protocol';
import { ErrorCode } from '@airlock/protocol/errors';
import { AgentOpError, type AgentConnection } from '../agent-channel/agent-connection.js';
import { startExec } from '../agent-channel/exec.js';
import { AirlockError } from '../errors.js';
import type { ImageDefaults } from '../images/image.js';
import { OutputQueue } from './output-queue.js';

export interface ExecContext {
  conn: AgentConnection;
  defaults: ImageDefaults;
  sandboxEnv: Record<string, string>;
  /** OOM kills counted by the sandbox's memory cgroup so far (undefined once it is gone). */
  oomKills(): number | undefined;
  /** Resolves with the sandbox's stop reason when its channel closes. */
  stopped(): Promise<'oom' | 'other'>;
}

export interface StartedExec {
  pid: number;
  events: OutputQueue;
}

const SIGKILL = 9;

export async function runExec(ctx: ExecContext, req: ExecRequest): Promise<StartedExec> {
  const argv = req.cmd === undefined ? ctx.defaults.command : typeof req.cmd === 'string' ? ['/bin/sh', '-c', req.cmd] : req.cmd;
  if (argv.length === 0) throw new AirlockError(ErrorCode.InvalidRequest, 'cmd is required: the image has no default command (Entrypoint/Cmd)');
  const env = mergeEnv(ctx.defaults.env, ctx.sandboxEnv, req.env ?? {});
  const stdin = req.stdin === undefined ? undefined : Buffer.from(req.stdin, req.stdinEncoding === 'base64' ? 'base64' : 'utf8');
  const oomBefore = ctx.oomKills() ?? 0;
  const startedAt = performance.now();
  let timedOut = false;
  let timer: NodeJS.Timeout | undefined;
  const queue = new OutputQueue();

  let running;
  try {
    running = await startExec(
      ctx.conn,
      { argv, env, cwd: req.cwd ?? (req.user === undefined ? ctx.defaults.cwd : ''), user: req.user ?? ctx.defaults.user, keepStdin: stdin !== undefined },
      { stdout: (data) => queue.push({ type: 'stdout', data }), stderr: (data) => queue.push({ type: 'stderr', data }) },
    );
  } catch (e) {
    if (e instanceof AgentOpError) {
      throw new AirlockError(ErrorCode.ExecFailed, `cannot start ${JSON.stringify(argv[0])}: ${e.message}`);
    }
    throw new AirlockError(ErrorCode.InvalidState, `the sandbox stopped before the command started (${String(e)})`);
  }
  queue.bind({
    credit: (n) => running.credit(n),
    abandon: () => {
      running.signal(SIGKILL);
      // Let the agent drain what the killed process left in its pipes; nobody reads it now.
      running.credit(0xffffffff);
    },
    violation: (message) => ctx.conn.fail(message),
  });

  if (req.timeout !== undefined) {
    timer = setTimeout(() => {
      timedOut = true;
      running.signal(SIGKILL);
    }, req.timeout * 1000);
  }
  if (stdin !== undefined) {
    running
      .writeStdin(stdin)
      .then(() => running.closeStdin())
      .catch(() => {}); // the process may exit without reading its stdin; the exit event says what happened
  }

  running.exited.then(
    (status) => {
      clearTimeout(timer);
      let reason: ExitReason = status.signal === null ? 'exit' : 'signal';
      if (timedOut) reason = 'timeout';
      else if (status.signal === SIGKILL && (ctx.oomKills() ?? oomBefore) > oomBefore) reason = 'oom';
      queue.push({ type: 'exit', exitCode: status.code, signal: status.signal, reason, durationMs: elapsed(startedAt) });
    },
    async () => {
      clearTimeout(timer);
      const why = await ctx.stopped();
      queue.push({ type: 'exit', exitCode: null, signal: null, reason: why === 'oom' ? 'oom' : 'sandbox_stopped', durationMs: elapsed(startedAt) });
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
