/**
 * @module socket-transport
 * The agent transport of the shim-based runtimes: a unix socket held by the sandbox's airlock-shim
 * (PROTOCOL.md, "The shim"). Each open() is a new connection, which the shim prefers to the old one.
 */
import { connect } from 'node:net';
import type { Duplex } from 'node:stream';
import type { AgentTransport } from './runtime.js';

export class UnixSocketTransport implements AgentTransport {
  constructor(readonly endpoint: string) {}

  open(timeoutMs: number): Promise<Duplex> {
    return new Promise((resolve, reject) => {
      const socket = connect(this.endpoint);
      const timer = setTimeout(() => {
        socket.destroy();
        reject(new Error(`connect to ${this.endpoint} timed out`));
      }, timeoutMs);
      socket.once('connect', () => {
        clearTimeout(timer);
        socket.off('error', reject);
        resolve(socket);
      });
      socket.once('error', (e) => {
        clearTimeout(timer);
        reject(e);
      });
    });
  }
}
