/**
 * @module commands/ls
 * `airlock ls [--state S] [--label k=v]... [--json]`: list sandboxes.
 */
import { Command, Option } from 'commander';
import { SANDBOX_STATES, type SandboxState } from '@airlock/protocol/states';
import type { SandboxListParams } from '@airlock/sdk';
import { clientFrom } from '../config.js';
import { collectKeyValue } from '../options.js';
import { formatSandboxTable } from '../table.js';
import { addConnectionOptions, connectionFlags } from './shared.js';

interface LsOptions {
  state?: SandboxState;
  label?: Record<string, string>;
  json?: boolean;
}

export function lsCommand(): Command {
  const command = new Command('ls')
    .description('list sandboxes (destroyed ones only with --state destroyed)')
    .addOption(new Option('--state <state>', 'only sandboxes in this state').choices(SANDBOX_STATES))
    .option('--label <k=v>', 'only sandboxes with this label (repeatable; all must match)', collectKeyValue)
    .option('--json', 'print the sandboxes as JSON');
  addConnectionOptions(command);
  return command.action(async (options: LsOptions, self: Command) => {
    const airlock = clientFrom(connectionFlags(self));
    const params: SandboxListParams = {};
    if (options.state !== undefined) params.state = options.state;
    if (options.label !== undefined) params.labels = options.label;
    const infos = (await airlock.sandboxes.list(params)).map((sb) => sb.info);
    process.stdout.write(options.json === true ? `${JSON.stringify(infos, null, 2)}\n` : formatSandboxTable(infos));
  });
}
