/**
 * @module spawner
 * Host commands are forked by a small long-lived child process, not by the server. Node forks
 * synchronously on the event loop, and forking the server (hundreds of MiB mapped) blocked it for
 * 4 ms at the median and up to 30 ms under load, 764 times in one tenancy bench run (a create and
 * destroy runs about seven commands): every request of every project waited behind another
 * project's creates. The spawner is small, so its forks are cheap, and they happen on its own
 * thread of execution. It is started on first use and again after it died (the commands it was
 * running then fail); where it cannot be started at all, commands are forked here as before.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { DetachedStartError, spawnCommand, spawnDetached, type CommandOptions, type CommandResult, type DetachedResult } from './spawn-command.js';

export type DetachedOptions = { timeoutMs: number; cgroupProcs?: string[] };
/** `run`: a command to completion; `detached`: a long-lived program until it closes its stdout (the shim). */
type Work = { kind: 'run'; argv: string[]; options: CommandOptions } | { kind: 'detached'; argv: string[]; options: DetachedOptions };
export type SpawnRequest = { id: number } & Work;
export type SpawnReply =
  | { id: number; result: CommandResult }
  | { id: number; started: DetachedResult }
  | { id: number; error: { message: string; code: string | undefined; timedOut?: boolean } };

interface Pending {
  spawner: ChildProcess;
  resolve(r: CommandResult | DetachedResult): void;
  reject(e: Error): void;
}

let child: ChildProcess | undefined;
let unavailable = false;
let nextId = 0;
const pending = new Map<number, Pending>();

function start(): ChildProcess | undefined {
  if (child?.connected) return child;
  if (unavailable) return undefined;
  let c: ChildProcess;
  try {
    c = fork(fileURLToPath(new URL('./spawner-child.js', import.meta.url)), [], { stdio: ['ignore', 'ignore', 'inherit', 'ipc'], execArgv: [] });
  } catch {
    unavailable = true;
    return undefined;
  }
  c.on('message', (m: SpawnReply) => {
    const p = pending.get(m.id);
    if (!p) return;
    pending.delete(m.id);
    idle();
    if ('result' in m) p.resolve(m.result);
    else if ('started' in m) p.resolve(m.started);
    else if (m.error.timedOut !== undefined) p.reject(new DetachedStartError(m.error.message, m.error.timedOut));
    else p.reject(Object.assign(new Error(m.error.message), { code: m.error.code }));
  });
  c.on('error', () => {
    // a failed send or a spawner that could not start: its exit (or the next send) settles the rest
  });
  // The channel closing is the first sign of a dead spawner, and the one that arrives while only the
  // channel is referenced; `exit` may come later, or (its handle unreferenced) never in a short script.
  const gone = () => {
    if (child === c) child = undefined;
    for (const [id, p] of pending) {
      if (p.spawner !== c) continue;
      pending.delete(id);
      p.reject(new Error('the command spawner exited while the command ran'));
    }
    idle();
  };
  c.once('disconnect', gone);
  c.once('exit', gone);
  // Never what keeps the server (or a short script) alive: referenced only while a command runs.
  c.unref();
  c.channel?.unref();
  child = c;
  return c;
}

function idle(): void {
  if (pending.size === 0) child?.channel?.unref();
}

export function runInSpawner(argv: string[], options: CommandOptions): Promise<CommandResult> {
  return call({ kind: 'run', argv, options }, () => spawnCommand(argv, options)) as Promise<CommandResult>;
}

/** spawnDetached, in the spawner: the fork of a shim per create is off the event loop too. */
export function detachInSpawner(argv: string[], options: DetachedOptions): Promise<DetachedResult> {
  return call({ kind: 'detached', argv, options }, () => spawnDetached(argv, options)) as Promise<DetachedResult>;
}

function call(request: Work, here: () => Promise<CommandResult | DetachedResult>): Promise<CommandResult | DetachedResult> {
  const c = start();
  if (!c) return here();
  return new Promise((resolve, reject) => {
    const id = ++nextId;
    pending.set(id, { spawner: c, resolve, reject });
    c.channel?.ref();
    c.send({ id, ...request } satisfies SpawnRequest, (err) => {
      if (err && pending.delete(id)) {
        idle();
        // Not sent, so not run: fork it here instead.
        here().then(resolve, reject);
      }
    });
  });
}
