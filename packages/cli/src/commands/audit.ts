/**
 * @module commands/audit
 * `airlock audit [--project P] [--limit N] [--json]`: the project's audit log, newest first.
 */
import { Command } from 'commander';
import type { AuditEvent } from '@airlock/protocol';
import { clientFrom } from '../config.js';
import { UsageError } from '../errors.js';
import { formatTable } from '../table.js';
import { addConnectionOptions, connectionFlags } from './shared.js';

export function formatAudit(events: AuditEvent[]): string {
  if (events.length === 0) return 'no audit events\n';
  return formatTable(
    ['SEQ', 'TIME', 'KEY', 'ACTION', 'TARGET', 'RESULT', 'ARGV'],
    events.map((e) => [String(e.seq), e.at, e.keyId, e.action, e.target ?? '', `${e.status} ${e.result}`, e.argv === null ? '' : JSON.stringify(e.argv)]),
  );
}

export function auditCommand(): Command {
  const command = new Command('audit')
    .description("who did what in the project, newest first (key id, action, result; an exec's argv, never its env)")
    .option('--project <name>', "another project's log (admin key)")
    .option('--limit <n>', 'events to show (1-1000)', '100')
    .option('--before <seq>', 'only events older than this seq (paging back)')
    .option('--json', 'print as JSON');
  addConnectionOptions(command);
  return command.action(async (o: { project?: string; limit: string; before?: string; json?: boolean }, self: Command) => {
    const limit = Number(o.limit);
    if (!Number.isInteger(limit) || limit < 1 || limit > 1000) throw new UsageError('--limit must be 1-1000');
    const before = o.before === undefined ? undefined : Number(o.before);
    if (before !== undefined && !Number.isInteger(before)) throw new UsageError('--before must be a seq number');
    const events = await clientFrom(connectionFlags(self)).audit.list({
      limit,
      ...(o.project ? { project: o.project } : {}),
      ...(before !== undefined ? { before } : {}),
    });
    process.stdout.write(o.json === true ? `${JSON.stringify(events, null, 2)}\n` : formatAudit(events));
  });
}
