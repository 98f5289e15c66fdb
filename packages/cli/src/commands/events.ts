/**
 * @module commands/events
 * `airlock events [--follow] [--since ID] [--type T...] [--sandbox ID] [--json]`: the project's
 * lifecycle events. Without --follow it prints what the server kept after --since (default: all
 * kept) and exits once it is idle; with it, it goes on and resumes after a dropped connection.
 */
import { Command } from 'commander';
import type { EventType, LifecycleEvent } from '@airlock/protocol';
import { EVENT_TYPES } from '@airlock/protocol/names';
import { clientFrom } from '../config.js';
import { addConnectionOptions, connectionFlags } from './shared.js';

export function formatEvent(e: LifecycleEvent): string {
  const d = e.data;
  const extra = [
    d.reason !== undefined ? `reason=${d.reason}` : '',
    d.processId !== undefined ? `process=${d.processId}` : '',
    d.exitCode !== undefined && d.exitCode !== null ? `exit=${d.exitCode}` : '',
    d.durationMs !== undefined ? `${d.durationMs}ms` : '',
    d.detail !== undefined ? `(${d.detail})` : '',
  ].filter(Boolean);
  return `${e.time}  ${e.id.padStart(6)}  ${e.type.replace(/^sandbox\./, '').padEnd(24)}  ${e.sandbox}  ${e.runtime}${extra.length ? `  ${extra.join(' ')}` : ''}\n`;
}

/** How long the stream may be quiet before a non-following read is done. */
const IDLE_MS = 500;

export function eventsCommand(): Command {
  const command = new Command('events')
    .description("show the project's sandbox lifecycle events (created, started, exec, oom, timeout, policy, stopped, destroyed)")
    .option('-f, --follow', 'keep printing new events (resumes after a dropped connection)')
    .option('--since <id>', 'only events after this id (default: every event kept; with --follow alone: from now)')
    .option('--type <type...>', `only these types: ${EVENT_TYPES.join(', ')}`)
    .option('--sandbox <id>', "only this sandbox's events")
    .option('--json', 'one JSON object per line');
  addConnectionOptions(command);
  return command.action(async (options: { follow?: boolean; since?: string; type?: string[]; sandbox?: string; json?: boolean }, self: Command) => {
    const types = options.type?.map((t) => (t.startsWith('sandbox.') ? t : `sandbox.${t}`));
    const bad = types?.find((t) => !(EVENT_TYPES as readonly string[]).includes(t));
    if (bad !== undefined) throw new Error(`unknown event type ${bad}; types are ${EVENT_TYPES.join(', ')}`);
    const client = clientFrom(connectionFlags(self));
    const ctl = new AbortController();
    process.once('SIGINT', () => ctl.abort());
    const after = options.since ?? (options.follow === true ? undefined : '0');
    let idle: NodeJS.Timeout | undefined;
    const armIdle = () => {
      if (options.follow === true) return;
      clearTimeout(idle);
      idle = setTimeout(() => ctl.abort(), IDLE_MS);
    };
    armIdle();
    try {
      for await (const e of client.events.stream({ after, types: types as EventType[] | undefined, sandbox: options.sandbox, signal: ctl.signal })) {
        process.stdout.write(options.json === true ? `${JSON.stringify(e)}\n` : formatEvent(e));
        armIdle();
      }
    } catch (e) {
      if (!ctl.signal.aborted) throw e;
    } finally {
      clearTimeout(idle);
    }
  });
}
