/**
 * @module command
 * Running host programs (runc, runsc, …). This folder is the only place that spawns processes; the
 * rest of the server asks for effects through these functions.
 */
import { spawn } from 'node:child_process';
import { PassThrough, type Readable } from 'node:stream';
import { runInSpawner as spawned } from './spawner.js';
import { joiningArgv, type CommandOptions, type CommandResult } from './spawn-command.js';

export type { CommandOptions, CommandResult } from './spawn-command.js';

export class CommandError extends Error {
  override readonly name = 'CommandError';
  constructor(
    readonly argv: string[],
    readonly result: CommandResult,
  ) {
    super(`${argv.slice(0, 4).join(' ')} failed (${result.signal ?? `exit ${result.code}`}): ${result.stderr.trim().slice(-2000)}`);
  }
}

/**
 * Runs a command to completion, capturing bounded output. Never throws for a non-zero exit.
 * The fork happens in the spawner process (spawner.ts), not on the server's event loop.
 */
export function runCommand(argv: string[], options: CommandOptions = {}): Promise<CommandResult> {
  if (argv[0] === undefined) throw new Error('runCommand: empty argv');
  return spawned(argv, options);
}

/** Runs a command and throws CommandError unless it exits 0. */
export async function checkCommand(argv: string[], options: CommandOptions = {}): Promise<CommandResult> {
  const result = await runCommand(argv, options);
  if (result.code !== 0) throw new CommandError(argv, result);
  return result;
}

/**
 * Runs a filter program (e.g. `zstd -dc`) over a stream and returns its output. The output ends
 * only once the program has exited 0: its stdout reaching EOF says nothing of how it exited, so a
 * failing filter ends the output with an error instead of with what looks like all of it. A failed
 * input kills the program and fails the output too.
 */
export function filterThrough(
  argv: string[],
  input: NodeJS.ReadableStream,
  options: {
    /** cgroup.procs files the program joins before it runs (as runCommand's). */
    cgroupProcs?: string[];
    /** Called once the program is gone (exited, or never started), whatever became of the stream. */
    gone?: () => void;
  } = {},
): Readable {
  if (argv[0] === undefined) throw new Error('filterThrough: empty argv');
  const [file, ...args] = joiningArgv(argv, options.cgroupProcs) as [string, ...string[]];
  const child = spawn(file, args, { stdio: ['pipe', 'pipe', 'pipe'] });
  child.once('error', () => options.gone?.());
  child.once('close', () => options.gone?.());
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (d: string) => {
    if (stderr.length < 4096) stderr += d;
  });
  const out = new PassThrough();
  child.stdout.pipe(out, { end: false });
  child.stdin.on('error', () => {});
  input.on('error', (e: Error) => {
    child.kill('SIGKILL');
    out.destroy(e);
  });
  input.pipe(child.stdin);
  child.on('error', (e) => out.destroy(e));
  child.on('close', (code, signal) => {
    if (code === 0) out.end();
    else out.destroy(new Error(`${file} failed (${signal ?? `exit ${code}`}): ${stderr.trim()}`));
  });
  out.on('close', () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });
  return out;
}
