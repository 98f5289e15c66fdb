/**
 * @module commands/run
 * `airlock run [flags] -- CMD [ARGS...]`: create a sandbox, stream one command, destroy it.
 */
import { Command } from 'commander';
import type { Sandbox } from '@airlock/sdk';
import { clientFrom } from '../config.js';
import { formatError } from '../errors.js';
import { ensureImage } from '../pull-progress.js';
import { addResourceOptions, createParams, parsePositive, type ResourceOptions } from '../options.js';
import { onInterrupt, readPipedStdin } from '../stdio.js';
import { addConnectionOptions, connectionFlags, streamCommand, type StreamedExecOptions } from './shared.js';

interface RunOptions extends ResourceOptions {
  timeout?: number;
  user?: string;
  cwd?: string;
  stdin: boolean;
}

/** Left to the sandbox beyond the command's timeout, so a killed CLI leaks nothing for long. */
const SANDBOX_GRACE_SECONDS = 60;

export function runCommand(): Command {
  const command = new Command('run')
    .description('run one command in a new sandbox, then destroy it')
    .argument('[cmd...]', "the command and its arguments (put them after --); none: the image's own Entrypoint + Cmd")
    .passThroughOptions();
  addResourceOptions(command)
    .option('--timeout <seconds>', 'kill the command after this long (exit 124)', parsePositive)
    .option('--user <user>', 'run as this user (name, uid or uid:gid)')
    .option('--cwd <dir>', 'working directory (absolute)')
    .option('--no-stdin', 'do not forward piped stdin')
    .addHelpText(
      'after',
      '\nThe command is an argv, run without a shell: `airlock run -- "echo hi"` looks for a binary\n' +
        'named "echo hi". For shell syntax use: airlock run -- sh -c \'echo $HOME | wc -c\'\n' +
        "Piped stdin is sent to the command. The exit status is the command's (128+N when killed\n" +
        'by signal N, 124 on timeout, 137 when out of memory).',
    );
  addConnectionOptions(command);
  return command.action(async (argv: string[], options: RunOptions, self: Command) => {
    const airlock = clientFrom(connectionFlags(self));
    const stdin = options.stdin ? await readPipedStdin() : undefined;
    const lifetime = options.timeout === undefined ? undefined : Math.ceil(options.timeout) + SANDBOX_GRACE_SECONDS;
    // Installed before create, so that ^C while the sandbox starts still destroys it.
    const interrupt = onInterrupt();
    let sandbox: Sandbox | undefined;
    try {
      await ensureImage(airlock, options.image);
      sandbox = await airlock.sandboxes.create(createParams(options, lifetime));
      process.exitCode = interrupt.signal.aborted ? interrupt.exitCode : await streamCommand(sandbox, argv, { ...execOptions(options), stdin }, interrupt);
    } finally {
      if (sandbox !== undefined) {
        await sandbox.destroy().catch((error: unknown) => {
          process.stderr.write(`${formatError(error)} while destroying ${sandbox?.id}\n`);
          process.exitCode ||= 1;
        });
      }
      interrupt.dispose();
    }
  });
}

export function execOptions(options: { user?: string; cwd?: string; timeout?: number }): StreamedExecOptions {
  const out: StreamedExecOptions = {};
  if (options.user !== undefined) out.user = options.user;
  if (options.cwd !== undefined) out.cwd = options.cwd;
  if (options.timeout !== undefined) out.timeout = options.timeout;
  return out;
}
