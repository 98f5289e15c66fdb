/**
 * @module commands/create
 * `airlock create [flags]`: create a sandbox and print its id.
 */
import { Command } from 'commander';
import { clientFrom } from '../config.js';
import { ensureImage } from '../pull-progress.js';
import { addResourceOptions, collectKeyValue, createParams, parseInteger, type ResourceOptions } from '../options.js';
import { addConnectionOptions, connectionFlags } from './shared.js';

interface CreateOptions extends ResourceOptions {
  timeout?: number;
  label?: Record<string, string>;
}

export function createCommand(): Command {
  const command = new Command('create').description('create a sandbox and print its id');
  addResourceOptions(command)
    .option('--timeout <seconds>', "destroy the sandbox after this many seconds (default: the server's)", parseInteger)
    .option('--label <k=v>', 'label to find the sandbox by (repeatable)', collectKeyValue);
  addConnectionOptions(command);
  return command.action(async (options: CreateOptions, self: Command) => {
    const airlock = clientFrom(connectionFlags(self));
    await ensureImage(airlock, options.image);
    const sandbox = await airlock.sandboxes.create(createParams(options, options.timeout, options.label));
    process.stdout.write(`${sandbox.id}\n`);
  });
}
