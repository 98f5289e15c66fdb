/**
 * @module exec
 * One process run by the agent: start it, feed its stdin, receive its output, learn how it ended.
 * The connection guarantees the order (STARTED first, EXITED or ERROR last); this module decodes
 * payloads (a ProtocolError here is a violation of the sandbox) and enforces the start deadline.
 */
import { AgentFrame, HostFrame, MAX_PAYLOAD, decodeError, decodeExited, decodeStarted, encodeCredit, encodeExec, encodeSignal, type ExecSpec } from '@airlock/agent';
import { ErrorCode } from '@airlock/protocol/errors';
import { AirlockError } from '../errors.js';
import type { AgentConnection } from './agent-connection.js';
import { AgentOpError, AgentTimeoutError } from './errors.js';

export interface ExecSink {
  stdout(data: Buffer): void;
  stderr(data: Buffer): void;
}

export interface ExitStatus {
  code: number | null;
  signal: number | null;
}

export interface RunningExec {
  pid: number;
  /** Settles when the process has ended and its output has been delivered; rejects if the channel dies. */
  exited: Promise<ExitStatus>;
  writeStdin(data: Uint8Array): Promise<void>;
  closeStdin(): void;
  signal(signo: number): void;
  /** Lets the agent send `bytes` more output (see PROTOCOL.md, flow control). */
  credit(bytes: number): void;
  /** Nobody reads this process any more: kill it and drop what it still writes. */
  abandon(): void;
}

const STDIN_CHUNK = 64 * 1024;
const SIGKILL = 9;

export function startExec(conn: AgentConnection, spec: ExecSpec, sink: ExecSink, options: { startTimeoutMs: number }): Promise<RunningExec> {
  const request = encodeExec(spec);
  if (request.length > MAX_PAYLOAD) {
    // One budget from the edge to the agent: argv, cwd, user and the merged environment share one frame.
    throw new AirlockError(
      ErrorCode.PayloadTooLarge,
      `the command's arguments and environment take ${request.length} bytes, more than the ${MAX_PAYLOAD} bytes one exec may carry; pass large data through stdin or a file`,
    );
  }
  return new Promise((resolveStart, rejectStart) => {
    let started = false;
    let gaveUp = false;
    let resolveExit!: (s: ExitStatus) => void;
    let rejectExit!: (e: Error) => void;
    const exited = new Promise<ExitStatus>((res, rej) => {
      resolveExit = res;
      rejectExit = rej;
    });
    exited.catch(() => {}); // observed by the caller after start; avoid an unhandled rejection before that

    const send = (type: number, payload?: Uint8Array) => {
      if (!conn.closed) ch.send(type, payload);
    };
    const kill = () => {
      send(HostFrame.Signal, encodeSignal(SIGKILL));
      // Let the agent drain what the killed process left in its pipes; nobody reads it now.
      send(HostFrame.Credit, encodeCredit(0xffffffff));
      ch.abandon();
    };
    const timer = setTimeout(() => {
      gaveUp = true;
      rejectStart(new AgentTimeoutError(`the agent did not start the command within ${options.startTimeoutMs} ms`));
    }, options.startTimeoutMs);

    const ch = conn.open('exec', {
      frame: (f) => {
        switch (f.type) {
          case AgentFrame.Started: {
            const { pid } = decodeStarted(f.payload);
            clearTimeout(timer);
            started = true;
            // Started after we gave up: nobody will ever read it.
            if (gaveUp) return kill();
            resolveStart({
              pid,
              exited,
              writeStdin: async (data) => {
                for (let off = 0; off < data.length; off += STDIN_CHUNK) {
                  if (conn.closed) return;
                  if (!ch.send(HostFrame.Stdin, data.subarray(off, off + STDIN_CHUNK))) await conn.drained();
                }
              },
              closeStdin: () => send(HostFrame.StdinClose),
              signal: (signo) => send(HostFrame.Signal, encodeSignal(signo)),
              credit: (bytes) => send(HostFrame.Credit, encodeCredit(bytes)),
              abandon: kill,
            });
            return;
          }
          case AgentFrame.Stdout:
            sink.stdout(f.payload);
            return;
          case AgentFrame.Stderr:
            sink.stderr(f.payload);
            return;
          case AgentFrame.Exited:
            resolveExit(decodeExited(f.payload));
            return;
          case AgentFrame.Error: {
            clearTimeout(timer);
            const { errno, message } = decodeError(f.payload);
            const err = new AgentOpError(errno, message);
            if (started) rejectExit(err);
            else rejectStart(err);
            return;
          }
        }
      },
      closed: (err) => {
        clearTimeout(timer);
        if (started) rejectExit(err);
        else rejectStart(err);
      },
    });
    ch.send(HostFrame.Exec, request);
  });
}
