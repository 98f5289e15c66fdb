/**
 * @module commands/exec
 * `airlock exec ID [flags] -- CMD [ARGS...]`: stream one command in an existing sandbox.
 */
import { Command } from 'commander';
import { clientFrom } from '../config.js';
import { collectKeyValue, parsePositive } from '../options.js';
import { onInterrupt, readPipedStdin } from '../stdio.js';
import { execOptions } from './run.js';
import { interactive } from '../terminal.js';
import { addConnectionOptions, connectionFlags, streamCommand } from './shared.js';

interface ExecOptions {
  env?: Record<string, string>;
  user?: string;
  cwd?: string;
  timeout?: number;
  stdin: boolean;
  interactive?: boolean;
  tty?: boolean;
}

export function execCommand(): Command {
  const command = new Command('exec')
    .description('run a command in a running sandbox, streaming its output')
    .argument('<id>', 'sandbox id')
    // No passThroughOptions here: the flags come after the id, so the command must follow `--`.
    .argument('<cmd...>', 'the command and its arguments, after --')
    .option('--env <K=V>', 'environment variable for this command (repeatable)', collectKeyValue)
    .option('--user <user>', 'run as this user (name, uid or uid:gid)')
    .option('--cwd <dir>', 'working directory (absolute)')
    .option('--timeout <seconds>', 'kill the command after this long (exit 124)', parsePositive)
    .option('--no-stdin', 'do not forward piped stdin')
    .option('-i, --interactive', 'keep stdin open and forward it as it comes (with -t: keystrokes)')
    .option('-t, --tty', 'run the command on a terminal (raw mode, resize), as docker exec -it')
    .addHelpText('after', "\nThe command is an argv, run without a shell; for shell syntax use: -- sh -c '...'");
  addConnectionOptions(command);
  return command.action(async (id: string, argv: string[], options: ExecOptions, self: Command) => {
    const airlock = clientFrom(connectionFlags(self));
    if (options.interactive || options.tty) {
      const sandbox = await airlock.sandboxes.get(id);
      process.exitCode = await interactive(sandbox, {
        argv,
        tty: options.tty === true,
        ...(options.env ? { env: options.env } : {}),
        ...(options.user ? { user: options.user } : {}),
        ...(options.cwd ? { cwd: options.cwd } : {}),
      });
      return;
    }
    const stdin = options.stdin ? await readPipedStdin() : undefined;
    const sandbox = await airlock.sandboxes.get(id);
    const interrupt = onInterrupt();
    try {
      const exec = { ...execOptions(options), stdin, ...(options.env === undefined ? {} : { env: options.env }) };
      process.exitCode = await streamCommand(sandbox, argv, exec, interrupt);
    } finally {
      interrupt.dispose();
    }
  });
}
