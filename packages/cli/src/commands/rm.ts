/**
 * @module commands/rm
 * `airlock rm ID...`: destroy sandboxes; prints each id destroyed, and fails if any could not be.
 */
import { Command } from 'commander';
import { clientFrom } from '../config.js';
import { formatError } from '../errors.js';
import { addConnectionOptions, connectionFlags } from './shared.js';

export function rmCommand(): Command {
  const command = new Command('rm').description('destroy sandboxes').argument('<id...>', 'sandbox ids');
  addConnectionOptions(command);
  return command.action(async (ids: string[], _options: unknown, self: Command) => {
    const airlock = clientFrom(connectionFlags(self));
    const results = await Promise.allSettled(ids.map((id) => airlock.sandboxes.destroy(id)));
    results.forEach((result, i) => {
      if (result.status === 'fulfilled') process.stdout.write(`${ids[i]}\n`);
      else process.stderr.write(`${formatError(result.reason).replace(/^airlock: /, `airlock: ${ids[i]}: `)}\n`);
    });
    const failed = results.filter((r) => r.status === 'rejected').length;
    if (failed > 0) {
      process.stderr.write(`airlock: ${failed} of ${ids.length} sandbox(es) not destroyed\n`);
      process.exitCode = 1;
    }
  });
}
