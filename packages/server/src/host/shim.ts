/**
 * @module shim
 * Starting and stopping `airlock-shim`, the per-sandbox relay that owns the container's stdio pipes
 * (see packages/agent/PROTOCOL.md). It runs in its own session so that it outlives a crash of the
 * server; a restarted server reconnects to its socket.
 */
import { existsSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { SHIM_BINARY } from '@airlock/agent';
import { DetachedStartError, type DetachedResult } from './spawn-command.js';
import { detachInSpawner } from './spawner.js';

export class ShimStartError extends Error {
  override readonly name = 'ShimStartError';
}

/**
 * Starts the shim, which starts `argv` (a runtime's `create`) with the agent's pipes. Resolves with
 * the shim's pid once `argv` has succeeded; rejects with its stderr otherwise. `attached`: argv is
 * the sandbox itself and never exits (bubblewrap); it has succeeded once the agent speaks.
 * It is forked by the spawner, like every host command. `cgroupProcs`: the shim (and the runtime it
 * starts) runs in these cgroups, its project's (host/cgroups.ts projectOps).
 */
export async function startShim(
  socketPath: string,
  argv: string[],
  options: {
    attached?: boolean;
    timeoutMs?: number;
    /** attached: how long the agent may take to speak */ readyMs?: number;
    cgroupProcs?: string[];
  } = {},
): Promise<number> {
  const timeoutMs = options.timeoutMs ?? 30_000;
  const attached = options.attached ? ['--attached', ...(options.readyMs !== undefined ? ['--ready-ms', String(options.readyMs)] : [])] : [];
  let started: DetachedResult;
  try {
    started = await detachInSpawner([SHIM_BINARY, '--socket', socketPath, ...attached, '--', ...argv], { timeoutMs, cgroupProcs: options.cgroupProcs ?? [] });
  } catch (e) {
    const what = argv.slice(0, 3).join(' ');
    if (e instanceof DetachedStartError && e.timedOut) throw new ShimStartError(`${what} did not finish within ${timeoutMs} ms`);
    throw new ShimStartError(`cannot start ${SHIM_BINARY}: ${e instanceof Error ? e.message : String(e)}`);
  }
  const [first, ...rest] = started.stdout.split('\n');
  if (first === 'ok') return started.pid;
  throw new ShimStartError(`${argv.slice(0, 3).join(' ')} failed (${first || 'no status'}): ${rest.join('\n').trim().slice(-2000)}`);
}

/** True if `pid` is an airlock-shim serving `socketPath` (guards against pid reuse before a kill). */
export function isShim(pid: number, socketPath: string): boolean {
  try {
    const argv = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
    return argv[0] === SHIM_BINARY && argv.includes(socketPath);
  } catch {
    return false;
  }
}

/**
 * Waits for a shim to exit on its own (it does once its container is gone, after reaping the
 * runtime's processes), then kills it if it has not.
 */
export async function stopShim(pid: number, socketPath: string, graceMs = 3000): Promise<void> {
  const deadline = Date.now() + graceMs;
  while (Date.now() < deadline && isShim(pid, socketPath) && !isZombie(pid)) await new Promise((r) => setTimeout(r, 10));
  if (isShim(pid, socketPath) && !isZombie(pid)) killQuietly(pid, 'SIGKILL');
}

function isZombie(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).startsWith('Z');
  } catch {
    return true;
  }
}

export function killQuietly(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(pid, signal);
  } catch {
    // already gone
  }
}

/** Finds the shim serving `socketPath` by scanning /proc (after a server restart the pid is not in memory). */
export function findShim(socketPath: string): number | undefined {
  for (const e of readdirSync('/proc')) {
    if (!/^\d+$/.test(e)) continue;
    const pid = Number(e);
    if (isShim(pid, socketPath)) return pid;
  }
  return undefined;
}

/** Records a started shim's pid, so that destroy finds it without scanning /proc. */
export function recordShim(pidFile: string, pid: number): void {
  writeFileSync(pidFile, `${pid}\n`, { mode: 0o600 });
}

/**
 * The shim serving `socketPath`: the pid recorded at start if it is still that shim (pid reuse is
 * checked on the process's argv), or, where none was recorded (a crash in between), a scan of /proc.
 */
export function recordedShim(pidFile: string, socketPath: string): number | undefined {
  let text: string;
  try {
    text = readFileSync(pidFile, 'utf8');
  } catch {
    return existsSync(socketPath) ? findShim(socketPath) : undefined;
  }
  const pid = Number(text.trim());
  return Number.isInteger(pid) && isShim(pid, socketPath) ? pid : undefined;
}
