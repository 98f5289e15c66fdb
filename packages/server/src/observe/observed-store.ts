/**
 * @module observed-store
 * The sandbox store with the lifecycle told as it is written: every state change of a sandbox goes
 * through a compare-and-set here (SandboxStore.transition), so wrapping the store sees each change
 * exactly once, after it is durable, whichever path (API, timeout, watchdog, reconcile) made it.
 * Sandboxes waiting in a warm pool are invisible to users, so they have no events until handed out.
 */
import type { EventType, SandboxState } from '@airlock/protocol';
import type { SandboxPatch, SandboxRecord, SandboxStore } from '../store/store.js';
import type { EventInput } from './event-log.js';

export interface StoreWatch {
  event(e: EventInput): void;
  stopped(record: SandboxRecord): void;
}

/** The event type a stop is told as: the reasons users watch for have their own. */
function stopType(reason: string | null): EventType {
  if (reason === 'oom') return 'sandbox.oom';
  if (reason === 'timeout') return 'sandbox.timeout';
  if (reason === 'agent_protocol') return 'sandbox.agent_protocol_violation';
  return 'sandbox.stopped';
}

export function observedSandboxStore(inner: SandboxStore, watch: StoreWatch): SandboxStore {
  const tell = (r: SandboxRecord, type: EventType, data: EventInput['data'] = {}) =>
    watch.event({ type, project: r.project, sandbox: r.id, runtime: r.runtime, data });
  const reason = (r: SandboxRecord) => ({ ...(r.stopReason ? { reason: r.stopReason } : {}), ...(r.stopDetail ? { detail: r.stopDetail.slice(0, 512) } : {}) });
  return {
    insert: async (record) => {
      await inner.insert(record);
      if (record.pool === null) tell(record, 'sandbox.created');
    },
    get: (id) => inner.get(id),
    list: (filter) => inner.list(filter),
    update: async (id, patch: SandboxPatch) => {
      const before = patch.network !== undefined ? await inner.get(id) : undefined;
      const after = await inner.update(id, patch);
      if (
        before &&
        before.pool === null &&
        before.state === 'running' &&
        before.network &&
        JSON.stringify(before.network.settings) !== JSON.stringify(after.network?.settings)
      ) {
        tell(after, 'sandbox.policy_changed');
      }
      return after;
    },
    transition: async (id, from: readonly SandboxState[], to: SandboxState, patch?: SandboxPatch) => {
      const r = await inner.transition(id, from, to, patch);
      if (!r || r.pool !== null) return r;
      if (to === 'running' && from.includes('creating')) tell(r, 'sandbox.started');
      if (to === 'stopped') {
        watch.stopped(r);
        tell(r, stopType(r.stopReason), reason(r));
      }
      if (to === 'destroyed') tell(r, 'sandbox.destroyed', reason(r));
      return r;
    },
    claimPooled: async (id, patch) => {
      const r = await inner.claimPooled(id, patch);
      if (r) {
        tell(r, 'sandbox.created', { reason: 'warm_pool' });
        tell(r, 'sandbox.started', { reason: 'warm_pool' });
      }
      return r;
    },
    delete: (id) => inner.delete(id),
    holding: () => inner.holding(),
    expiring: (limit) => inner.expiring(limit),
  };
}
