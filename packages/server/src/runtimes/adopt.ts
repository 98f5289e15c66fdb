/**
 * @module adopt
 * Reconnecting to a sandbox after a server restart, the same for every shim-based runtime: only a
 * sandbox the runtime says runs is adopted, and only if its agent answers on the shim's socket.
 */
import { AgentConnection } from '../agent-channel/agent-connection.js';
import type { Logger } from '../log.js';
import type { RuntimeStatus } from './runtime.js';

export async function adoptThroughShim(id: string, status: RuntimeStatus, socket: string, log: Logger): Promise<AgentConnection | undefined> {
  if (status !== 'running') return undefined;
  try {
    return await AgentConnection.connect(socket, 3000);
  } catch (e) {
    log.warn({ sandbox: id, err: e }, 'sandbox runs but its agent does not answer');
    return undefined;
  }
}
