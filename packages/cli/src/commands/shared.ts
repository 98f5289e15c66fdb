/**
 * @module commands/shared
 * What several verbs share: the connection flags and running one command with its output
 * streamed to the terminal.
 */
import type { Command } from 'commander';
import type { Sandbox, SandboxExecStreamParams } from '@airlock/sdk';
import type { ConnectionFlags } from '../config.js';
import { exitStatus } from '../exit-code.js';
import { pipeExecOutput, type Interrupt } from '../stdio.js';

/** `--url` and `--api-key` are accepted before the verb and after it. */
export function addConnectionOptions(command: Command): Command {
  return command
    .option('--url <url>', 'server URL (default: AIRLOCK_URL, then the local credentials file)')
    .option('--api-key <key>', 'API key (default: AIRLOCK_API_KEY, then the local credentials file)')
    .option('--profile <name>', 'a named server and key from ~/.config/airlock/config.json (default: AIRLOCK_PROFILE)');
}

export function connectionFlags(command: Command): ConnectionFlags {
  const opts = command.optsWithGlobals<ConnectionFlags>();
  return { url: opts.url, apiKey: opts.apiKey, profile: opts.profile };
}

export interface StreamedExecOptions {
  env?: Record<string, string>;
  user?: string;
  cwd?: string;
  timeout?: number;
  stdin?: Uint8Array | undefined;
}

/**
 * Runs `argv` in the sandbox with its output streamed, and returns the CLI's exit code. An
 * interrupt closes the stream, which kills the command in the sandbox.
 */
/** `argv` empty: the image's own Entrypoint + Cmd. */
export async function streamCommand(sandbox: Sandbox, argv: string[], options: StreamedExecOptions, interrupt: Interrupt): Promise<number> {
  try {
    const params: SandboxExecStreamParams = { signal: interrupt.signal };
    if (options.env !== undefined) params.env = options.env;
    if (options.user !== undefined) params.user = options.user;
    if (options.cwd !== undefined) params.cwd = options.cwd;
    if (options.timeout !== undefined) params.timeout = options.timeout;
    if (options.stdin !== undefined) params.stdin = options.stdin;
    const stream = await sandbox.execStream(argv.length === 0 ? null : argv, params);
    const status = exitStatus(await pipeExecOutput(stream));
    if (status.note !== undefined) process.stderr.write(`airlock: ${status.note}\n`);
    return status.code;
  } catch (error) {
    if (interrupt.signal.aborted) return interrupt.exitCode;
    throw error;
  }
}
