/**
 * @module states
 * Sandbox states as a closed union. The transition table lives with the lifecycle in the server;
 * here is only what the wire carries.
 *
 *   creating ──▶ running ──▶ stopped ──▶ destroyed
 *       │           │  ▲
 *       │           ▼  │ (server restart, runtime answers again)
 *       │         unknown ──▶ stopped
 *       └──────────────────▶ destroyed (create failed: nothing is left)
 */

export const SANDBOX_STATES = ['creating', 'running', 'stopped', 'unknown', 'destroyed'] as const;
export type SandboxState = (typeof SANDBOX_STATES)[number];

/**
 * Why a sandbox stopped. `agent_protocol`: its agent sent something the protocol forbids (a frame a
 * process inside could have forged), so the server closed its channel and stopped it; `stopDetail`
 * says which rule.
 */
export const STOP_REASONS = ['destroyed', 'timeout', 'oom', 'exited', 'lost', 'error', 'agent_protocol'] as const;
export type StopReason = (typeof STOP_REASONS)[number];

export const RUNTIMES = ['gvisor', 'runc', 'bwrap', 'microvm'] as const;
export type RuntimeName = (typeof RUNTIMES)[number];

/** How an exec ended. */
export const EXIT_REASONS = ['exit', 'signal', 'timeout', 'oom', 'sandbox_stopped'] as const;
export type ExitReason = (typeof EXIT_REASONS)[number];
