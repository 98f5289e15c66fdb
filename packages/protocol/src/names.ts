/**
 * @module names
 * The closed lists of names the wire uses (key roles, quotas, event types), in a module without zod
 * so that a client (the CLI's help text and argument checks) can use them without loading every
 * schema of the wire contract.
 */

export const KEY_ROLES = ['admin', 'project', 'read'] as const;

/** Every quota a project has, in the order the CLI shows them (the Quotas schema checks it has the same). */
export const QUOTA_NAMES = ['sandboxes', 'cpu', 'memoryMiB', 'diskMiB', 'imageBytes', 'execs', 'pulls'] as const;

export const EVENT_TYPES = [
  'sandbox.created',
  'sandbox.started',
  'sandbox.exec_started',
  'sandbox.exec_ended',
  'sandbox.oom',
  'sandbox.timeout',
  'sandbox.policy_changed',
  'sandbox.agent_protocol_violation',
  'sandbox.stopped',
  'sandbox.destroyed',
] as const;
