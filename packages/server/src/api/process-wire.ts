/**
 * @module process-wire
 * A process as the wire shows it (packages/protocol processes.ts).
 */
import type { ProcessInfo } from '@airlock/protocol';
import type { ProcessEntry } from '../processes/process-entry.js';

export function processToWire(e: ProcessEntry): ProcessInfo {
  return {
    id: e.facts.id,
    tag: e.facts.tag,
    pid: e.pid,
    command: e.facts.command,
    state: e.state,
    pty: e.facts.pty,
    size: e.facts.pty ? { cols: e.facts.cols, rows: e.facts.rows } : null,
    foreground: e.facts.foreground,
    exitCode: e.exit?.code ?? null,
    signal: e.exit?.signal ?? null,
    reason: e.exit?.reason ?? null,
    startedAt: new Date(e.facts.startedMs).toISOString(),
    endedAt: e.endedMs === null ? null : new Date(e.endedMs).toISOString(),
    output: { oldest: e.journal.oldest, head: e.journal.head },
  };
}
