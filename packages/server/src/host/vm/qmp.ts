/**
 * @module qmp
 * A minimal client of QEMU's machine protocol (QMP) on a VM's unix socket: one connection per
 * call, capabilities negotiated, one command, answer returned. Used to read the console ring and
 * to ask a guest to quit. Replies are bounded: the console text in them comes from the guest.
 */
import { connect } from 'node:net';

const MAX_REPLY = 1024 * 1024;

export class QmpError extends Error {
  override readonly name = 'QmpError';
}

export function qmpCommand(socketPath: string, command: string, args: Record<string, unknown> = {}, timeoutMs = 5000): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const sock = connect(socketPath);
    let buf = '';
    let stage: 'greeting' | 'capabilities' | 'command' = 'greeting';
    const done = (err: Error | undefined, value?: unknown) => {
      clearTimeout(timer);
      sock.destroy();
      if (err) reject(err);
      else resolve(value);
    };
    const timer = setTimeout(() => done(new QmpError(`QMP ${command} on ${socketPath} timed out after ${timeoutMs} ms`)), timeoutMs);
    sock.setEncoding('utf8');
    sock.on('error', (e) => done(new QmpError(`QMP ${command} on ${socketPath}: ${e.message}`)));
    sock.on('data', (chunk: string) => {
      buf += chunk;
      if (buf.length > MAX_REPLY) return done(new QmpError(`QMP reply over ${MAX_REPLY} bytes`));
      for (let nl = buf.indexOf('\n'); nl >= 0; nl = buf.indexOf('\n')) {
        const line = buf.slice(0, nl).trim();
        buf = buf.slice(nl + 1);
        if (!line) continue;
        let msg: { QMP?: unknown; return?: unknown; error?: { desc?: string }; event?: string };
        try {
          msg = JSON.parse(line);
        } catch {
          return done(new QmpError('QMP sent a line that is not JSON'));
        }
        if (msg.event !== undefined) continue;
        if (stage === 'greeting' && msg.QMP !== undefined) {
          stage = 'capabilities';
          sock.write('{"execute":"qmp_capabilities"}\n');
        } else if (msg.error) {
          return done(new QmpError(`QMP ${stage === 'command' ? command : 'qmp_capabilities'}: ${msg.error.desc ?? 'error'}`));
        } else if (stage === 'capabilities' && 'return' in msg) {
          stage = 'command';
          sock.write(`${JSON.stringify({ execute: command, arguments: args })}\n`);
        } else if (stage === 'command' && 'return' in msg) {
          return done(undefined, msg.return);
        }
      }
    });
    sock.on('close', () => done(new QmpError(`QMP connection to ${socketPath} closed before ${command} answered`)));
  });
}

/** Takes what the console ring holds (reading empties it). */
export async function readConsole(qmpSocket: string, maxBytes: number, timeoutMs = 5000): Promise<string> {
  const r = await qmpCommand(qmpSocket, 'ringbuf-read', { device: 'console', size: maxBytes, format: 'utf8' }, timeoutMs);
  return typeof r === 'string' ? r : '';
}
