/**
 * @module lifecycle
 * The sandbox state machine. A user asking for something the current state does not allow gets a
 * typed `invalid_state` error (requireState); an internal transition outside the table is a bug and
 * throws (assertTransition).
 *
 *   creating ──▶ running ──▶ stopped ──▶ destroyed
 *      │            │ ▲         ▲
 *      │            ▼ │         │
 *      │          unknown ──────┘        (after a server crash, until reconciled)
 *      └──────────────────────────────▶ destroyed   (create failed; nothing was left behind)
 */
import type { SandboxState } from '@airlock/protocol';
import { InvariantError, invalidState } from '../errors.js';

const TRANSITIONS: Record<SandboxState, readonly SandboxState[]> = {
  creating: ['running', 'destroyed', 'unknown'],
  running: ['stopped', 'unknown', 'destroyed'],
  unknown: ['running', 'stopped', 'destroyed'],
  stopped: ['destroyed'],
  destroyed: [],
};

export function canTransition(from: SandboxState, to: SandboxState): boolean {
  return TRANSITIONS[from].includes(to);
}

export function assertTransition(id: string, from: SandboxState, to: SandboxState): void {
  if (!canTransition(from, to)) throw new InvariantError(`invalid state transition of ${id}: ${from} -> ${to}`);
}

export function requireState(action: string, id: string, state: SandboxState, ...allowed: SandboxState[]): void {
  if (!allowed.includes(state)) {
    throw invalidState(`cannot ${action} sandbox ${id}: it is ${state} (needs ${allowed.join(' or ')})`);
  }
}

/** States in which a sandbox still holds host resources. */
export const LIVE_STATES: readonly SandboxState[] = ['creating', 'running', 'unknown', 'stopped'];
