/**
 * @module commands/stats
 * `airlock stats [ID...] [--no-stream] [--json]`: CPU, memory, pids, disk and network of running
 * sandboxes (all of the project's when no id is given), redrawn every second like `docker stats`.
 */
import { Command } from 'commander';
import type { SandboxStats } from '@airlock/protocol';
import type { Airlock } from '@airlock/sdk';
import { clientFrom } from '../config.js';
import { formatTable } from '../table.js';
import { addConnectionOptions, connectionFlags } from './shared.js';

export const STATS_COLUMNS = ['ID', 'RUNTIME', 'CPU %', 'CPU TIME', 'MEM / LIMIT', 'MEM PEAK', 'PIDS', 'DISK / LIMIT', 'NET RX / TX'] as const;

/** 1.5MiB, 512KiB, 3.2GiB: binary units, one decimal under 10. */
export function formatBytes(n: number | null | undefined): string {
  if (n === null || n === undefined) return '-';
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let v = n;
  let u = 0;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return `${v < 10 && u > 0 ? v.toFixed(1) : Math.round(v)}${units[u]}`;
}

export function formatStatsTable(rows: SandboxStats[]): string {
  if (rows.length === 0) return 'no running sandboxes\n';
  return formatTable(
    STATS_COLUMNS,
    rows.map((s) => [
      s.id,
      s.runtime,
      s.cpu.percent === null ? '-' : `${s.cpu.percent.toFixed(1)}%`,
      `${s.cpu.usageSeconds.toFixed(2)}s`,
      `${formatBytes(s.memory.currentBytes)} / ${formatBytes(s.memory.limitBytes)}`,
      formatBytes(s.memory.peakBytes),
      `${s.pids.current}${s.pids.scope === 'host' ? ' (host)' : ''}`,
      s.disk ? `${formatBytes(s.disk.usedBytes)} / ${formatBytes(s.disk.limitBytes)}` : '-',
      s.network ? `${formatBytes(s.network.rxBytes)} / ${formatBytes(s.network.txBytes)}` : '-',
    ]),
  );
}

async function sample(client: Airlock, ids: string[] | undefined): Promise<SandboxStats[]> {
  const targets = ids ?? (await client.sandboxes.list({ state: 'running' })).map((s) => s.id);
  const read = await Promise.all(
    targets.map((id) =>
      client.sandboxes
        .get(id)
        .then((sb) => sb.stats())
        .catch((e: unknown) => (ids ? Promise.reject(e) : undefined)),
    ),
  );
  return read.filter((s): s is SandboxStats => s !== undefined);
}

export function statsCommand(): Command {
  const command = new Command('stats')
    .description("show running sandboxes' CPU, memory, pids, disk and network use, live (all of the project's without an ID)")
    .argument('[ids...]', 'sandbox ids (default: every running sandbox)')
    .option('--no-stream', 'print one sample and exit')
    .option('--json', 'print samples as JSON (one line per sample round)');
  addConnectionOptions(command);
  return command.action(async (ids: string[], options: { stream: boolean; json?: boolean }, self: Command) => {
    const client = clientFrom(connectionFlags(self));
    const only = ids.length > 0 ? ids : undefined;
    const live = options.stream && options.json !== true && process.stdout.isTTY === true;
    for (;;) {
      const rows = await sample(client, only);
      if (options.json === true) process.stdout.write(`${JSON.stringify(rows)}\n`);
      // Home and clear-to-end: the table is redrawn in place, as `docker stats` does.
      else process.stdout.write(`${live ? '\x1b[H\x1b[2J' : ''}${formatStatsTable(rows)}`);
      if (!options.stream) return;
      if (only && rows.length === 0) return;
      await new Promise((r) => setTimeout(r, 1000));
    }
  });
}
