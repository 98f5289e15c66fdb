/**
 * @module command
 * Running host programs (runc, runsc, …). This folder is the only place that spawns processes; the
 * rest of the server asks for effects through these functions.
 */
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { PassThrough, type Readable } from 'node:stream';
import { chargeTo } from './cgroups.js';
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
 * Spawns a program run for a project outside any create (a pull's or a build's codec, a build's
 * tree walk) in the project's ops leaf, holding the project's level until the program is gone
 * (cgroups.ts chargeTo); with no project, where the server runs. Every stream is a pipe.
 */
export function spawnFor(project: string | undefined, argv: string[]): ChildProcessWithoutNullStreams {
  const charge = chargeTo(project);
  try {
    const [file, ...args] = joiningArgv(argv, charge.cgroupProcs) as [string, ...string[]];
    const child = spawn(file, args, { stdio: ['pipe', 'pipe', 'pipe'] });
    child.once('error', charge.release);
    child.once('close', charge.release);
    return child;
  } catch (e) {
    charge.release();
    throw e;
  }
}

/**
 * Runs a filter program (e.g. `zstd -dc`) over a stream and returns its output. The output ends
 * only once the program has exited 0: its stdout reaching EOF says nothing of how it exited, so a
 * failing filter ends the output with an error instead of with what looks like all of it. A failed
 * input kills the program and fails the output too. Given a project, the program's CPU is the
 * project's (spawnFor).
 */
export function filterThrough(argv: string[], input: NodeJS.ReadableStream, options: { project?: string | undefined } = {}): Readable {
  const file = argv[0];
  if (file === undefined) throw new Error('filterThrough: empty argv');
  const child = spawnFor(options.project, argv);
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
