/**
 * @module observer
 * What the sandbox service tells whoever watches it (metrics, lifecycle events): how long creates
 * and destroys took, whether a warm pool served a create, and each process's start and end. The
 * domain knows only this interface; observe/ implements it. Calls must not throw and must not block:
 * they happen on the request's path.
 */
import type { RuntimeName } from '@airlock/protocol';
import type { ProcessEntry } from '../processes/process-entry.js';

export interface SandboxObserver {
  created(o: { runtime: RuntimeName; project: string; seconds: number; source: 'pool' | 'cold'; ok: boolean }): void;
  destroyed(o: { runtime: RuntimeName; seconds: number }): void;
  poolClaim(runtime: RuntimeName, hit: boolean): void;
  /** A process of sandbox `id` started or ended (entry.exit says how). */
  process(id: string, runtime: RuntimeName, what: 'started' | 'ended', entry: ProcessEntry): void;
}
