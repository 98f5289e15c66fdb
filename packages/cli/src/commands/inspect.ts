/**
 * @module commands/inspect
 * `airlock inspect ID [--json]`: show one sandbox.
 */
import { Command } from 'commander';
import type { SandboxInfo } from '@airlock/sdk';
import { clientFrom } from '../config.js';
import { addConnectionOptions, connectionFlags } from './shared.js';

export function formatInspect(info: SandboxInfo): string {
  const labels = Object.entries(info.metadata).map(([k, v]) => `${k}=${v}`);
  const rows: [string, string][] = [
    ['id', info.id],
    ['state', info.stopReason === null ? info.state : `${info.state} (${info.stopReason})`],
    ['runtime', info.runtime],
    ['image', info.image],
    ['cpu', String(info.cpu)],
    ['memory', `${info.memoryMiB} MiB`],
    ['pids', String(info.pids)],
    ['timeout', info.timeout === null ? 'none' : `${info.timeout}s`],
    ['labels', labels.join(', ')],
    ['env', info.envKeys.join(', ')],
    ['created', info.createdAt],
    ['started', info.startedAt ?? ''],
    ['stopped', info.stoppedAt ?? ''],
    ['expires', info.expiresAt ?? ''],
  ];
  return rows.map(([k, v]) => `${`${k}:`.padEnd(9)}${v}`.trimEnd()).join('\n') + '\n';
}

export function inspectCommand(): Command {
  const command = new Command('inspect').description('show one sandbox').argument('<id>', 'sandbox id').option('--json', 'print the sandbox as JSON');
  addConnectionOptions(command);
  return command.action(async (id: string, options: { json?: boolean }, self: Command) => {
    const { info } = await clientFrom(connectionFlags(self)).sandboxes.get(id);
    process.stdout.write(options.json === true ? `${JSON.stringify(info, null, 2)}\n` : formatInspect(info));
  });
}
