/**
 * @module commands/shell
 * `airlock shell ID`: an interactive shell in a running sandbox, on a terminal of its own (raw mode,
 * resize on SIGWINCH, the shell's exit status passed through).
 */
import { Command } from 'commander';
import { clientFrom } from '../config.js';
import { interactive } from '../terminal.js';
import { addConnectionOptions, connectionFlags } from './shared.js';

export function shellCommand(): Command {
  const command = new Command('shell')
    .description('open an interactive shell in a running sandbox')
    .argument('<id>', 'sandbox id')
    .option('--user <user>', 'run as this user (name, uid or uid:gid)')
    .option('--cwd <dir>', 'working directory (absolute)');
  addConnectionOptions(command);
  return command.action(async (id: string, options: { user?: string; cwd?: string }, self: Command) => {
    const sandbox = await clientFrom(connectionFlags(self)).sandboxes.get(id);
    process.exitCode = await interactive(sandbox, { tty: true, ...(options.user ? { user: options.user } : {}), ...(options.cwd ? { cwd: options.cwd } : {}) });
  });
}
