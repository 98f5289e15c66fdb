/**
 * @module spawn-command
 * The spawn of one host command with bounded captured output, as the spawner process runs it (and
 * the server itself when no spawner can be started).
 */
import { spawn } from 'node:child_process';

export interface CommandResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

export interface CommandOptions {
  timeoutMs?: number;
  input?: string;
  /**
   * cgroup.procs files the command joins before it runs (host/cgroups.ts projectOps): work done
   * for a project is charged to that project. Best effort: where one cannot be joined (a level
   * removed in between), the command runs where the spawner is.
   */
  cgroupProcs?: string[];
}

const MAX_CAPTURE = 1024 * 1024;

/**
 * `sh -c JOIN n file… argv…`: writes its own pid to each file, then execs argv in place (same pid),
 * so nothing of the command ever runs outside the cgroups, not even a child it forks at once.
 */
const JOIN = 'n=$1; shift; while [ "$n" -gt 0 ]; do echo $$ 2>/dev/null >"$1"; shift; n=$((n-1)); done; exec "$@"';

/** argv, wrapped to join `cgroupProcs` first when there are any. */
export function joiningArgv(argv: string[], cgroupProcs: string[] | undefined): string[] {
  if (!cgroupProcs || cgroupProcs.length === 0) return argv;
  return ['/bin/sh', '-c', JOIN, 'airlock-join', String(cgroupProcs.length), ...cgroupProcs, ...argv];
}

export function spawnCommand(argv: string[], options: CommandOptions = {}): Promise<CommandResult> {
  const [file, ...args] = joiningArgv(argv, options.cgroupProcs);
  if (file === undefined) throw new Error('runCommand: empty argv');
  return new Promise((resolve, reject) => {
    const input = options.input;
    const child = spawn(file, args, {
      stdio: [input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
      timeout: options.timeoutMs ?? 60_000,
      killSignal: 'SIGKILL',
    });
    let stdout = '';
    let stderr = '';
    child.stdout!.setEncoding('utf8').on('data', (d: string) => {
      if (stdout.length < MAX_CAPTURE) stdout += d;
    });
    child.stderr!.setEncoding('utf8').on('data', (d: string) => {
      if (stderr.length < MAX_CAPTURE) stderr += d;
    });
    child.on('error', reject);
    child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr }));
    if (input !== undefined && child.stdin) {
      // A command that exits without reading its input must not crash the server with EPIPE.
      child.stdin.on('error', () => {});
      child.stdin.end(input);
    }
  });
}

export interface DetachedResult {
  pid: number;
  /** What it wrote to stdout before closing it (bounded). */
  stdout: string;
}

/** How a detached start failed: it could not be spawned, or did not close its stdout in time (then it was killed). */
export class DetachedStartError extends Error {
  override readonly name = 'DetachedStartError';
  constructor(
    message: string,
    readonly timedOut: boolean,
  ) {
    super(message);
  }
}

const MAX_DETACHED_CAPTURE = 70_000;

/**
 * Starts a long-lived program in a session of its own (it outlives whoever started it) and resolves
 * once it closes its stdout, which is how it says it is up (airlock-shim prints its status first).
 */
export function spawnDetached(argv: string[], options: { timeoutMs: number; cgroupProcs?: string[] }): Promise<DetachedResult> {
  const [file, ...args] = joiningArgv(argv, options.cgroupProcs);
  if (file === undefined) throw new Error('spawnDetached: empty argv');
  return new Promise((resolve, reject) => {
    const child = spawn(file, args, { detached: true, stdio: ['ignore', 'pipe', 'ignore'] });
    const pid = child.pid;
    let out = '';
    let settled = false;
    const settle = (err: Error | undefined) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      child.stdout?.destroy();
      child.unref();
      if (err) reject(err);
      else resolve({ pid: pid!, stdout: out });
    };
    const timer = setTimeout(() => {
      if (pid !== undefined) {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          // already gone
        }
      }
      settle(new DetachedStartError(`did not finish within ${options.timeoutMs} ms`, true));
    }, options.timeoutMs);
    child.on('error', (e) => settle(new DetachedStartError(`cannot start ${argv[0]}: ${e.message}`, false)));
    child.stdout!.setEncoding('utf8');
    child.stdout!.on('data', (d: string) => {
      if (out.length < MAX_DETACHED_CAPTURE) out += d;
    });
    child.stdout!.on('end', () => settle(undefined));
  });
}
