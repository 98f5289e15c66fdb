/**
 * @module commands/net
 * `airlock net events ID [--since N] [--json]`: a sandbox's egress audit.
 * `airlock net set ID (--allow E… [--deny E…] | --network none|all) [--peers none|project]`: change
 * its policy at run time (what no flag names is kept, except that no egress flag without --peers is none).
 */
import { Command } from 'commander';
import type { NetworkEvent } from '@airlock/protocol';
import { clientFrom } from '../config.js';
import { netSetSettings, parseInteger, parsePeers } from '../options.js';
import { formatTable } from '../table.js';
import { addConnectionOptions, connectionFlags } from './shared.js';

export function formatEventTable(events: NetworkEvent[]): string {
  if (events.length === 0) return 'no network events yet\n';
  return formatTable(
    ['TIME', 'KIND', 'VERDICT', 'NAME', 'TYPE', 'DESTINATION', 'REASON'] as const,
    events.map((e) => [
      e.time.slice(11, 23),
      e.kind,
      e.verdict,
      e.name ?? '',
      e.type ?? '',
      e.address !== undefined || e.port !== undefined
        ? `${e.address ?? ''}${e.port !== undefined ? `:${e.port}` : ''}${e.protocol ? `/${e.protocol}` : ''}`
        : '',
      e.reason ?? '',
    ]),
  );
}

export function netCommand(): Command {
  const net = new Command('net').description("a sandbox's network: its egress audit, and its policy at run time");
  const events = new Command('events')
    .description('DNS questions and connection attempts of a sandbox, allowed and denied (the last 1,000)')
    .argument('<id>', 'sandbox id')
    .option('--since <seq>', 'only events from this sequence number on', parseInteger)
    .option('--json', 'print as JSON');
  addConnectionOptions(events);
  events.action(async (id: string, options: { since?: number; json?: boolean }, self: Command) => {
    const sandbox = await clientFrom(connectionFlags(self)).sandboxes.get(id);
    const list = await sandbox.network.events(options.since === undefined ? {} : { since: options.since });
    process.stdout.write(options.json === true ? `${JSON.stringify(list, null, 2)}\n` : formatEventTable(list.events));
  });
  const set = new Command('set')
    .description("replace a running sandbox's egress policy (a rejected one leaves the old in force)")
    .argument('<id>', 'sandbox id')
    .option('--allow <entry>', 'reachable destination (repeatable)', (v: string, p: string[] | undefined) => [...(p ?? []), v])
    .option('--deny <entry>', 'never reachable (repeatable)', (v: string, p: string[] | undefined) => [...(p ?? []), v])
    .option('--network <none|all>', 'no egress, or the whole internet')
    .option('--peers <none|project>', "whether the same project's sandboxes with peers project reach it (and it them)", parsePeers);
  addConnectionOptions(set);
  set.action(async (id: string, options: { allow?: string[]; deny?: string[]; network?: 'none' | 'all'; peers?: 'none' | 'project' }, self: Command) => {
    const sandbox = await clientFrom(connectionFlags(self)).sandboxes.get(id);
    const now = await sandbox.network.update(netSetSettings(await sandbox.network.get(), options));
    process.stdout.write(options.peers === undefined ? `${JSON.stringify(now.egress)}\n` : `${JSON.stringify({ egress: now.egress, peers: now.peers })}\n`);
  });
  return net.addCommand(events).addCommand(set);
}
