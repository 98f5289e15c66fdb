/**
 * @module commands/pools
 * `airlock pools [--json]`: the server's warm pools (configured with `airlock serve --pool`).
 */
import { Command } from 'commander';
import type { PoolStatus } from '@airlock/protocol';
import { clientFrom } from '../config.js';
import { formatTable } from '../table.js';
import { addConnectionOptions, connectionFlags } from './shared.js';

export const POOL_COLUMNS = ['RUNTIME', 'IMAGE', 'CPU', 'MEM', 'DISK', 'READY', 'HITS', 'MISSES', 'REFILL P50', 'LAST ERROR'] as const;

export function formatPoolTable(pools: PoolStatus[]): string {
  if (pools.length === 0) return 'no warm pools (start the server with --pool <runtime>:<size>)\n';
  return formatTable(
    POOL_COLUMNS,
    pools.map((p) => [
      p.runtime,
      p.image,
      String(p.cpu),
      `${p.memoryMiB}M`,
      `${p.diskMiB}M`,
      `${p.ready}/${p.size}${p.starting > 0 ? ` (+${p.starting})` : ''}`,
      String(p.hits),
      String(p.misses),
      p.refillMs.p50 === null ? '-' : `${p.refillMs.p50} ms`,
      p.lastError ?? '',
    ]),
  );
}

export function poolsCommand(): Command {
  const command = new Command('pools').description('show the warm pools: sandboxes ready, hits, misses, refill time').option('--json', 'print as JSON');
  addConnectionOptions(command);
  return command.action(async (options: { json?: boolean }, self: Command) => {
    const list = await clientFrom(connectionFlags(self)).pools.list();
    process.stdout.write(options.json === true ? `${JSON.stringify(list, null, 2)}\n` : formatPoolTable(list.pools));
  });
}
