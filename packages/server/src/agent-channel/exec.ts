/**
 * @module exec
 * One process run by the agent: start it, feed its stdin, receive its output, learn how it ended.
 */
import { AgentFrame, HostFrame, decodeError, decodeExited, decodeStarted, encodeCredit, encodeExec, encodeSignal, type ExecSpec } from '@airlock/agent';
import { AgentOpError, type AgentConnection } from './agent-connection.js';

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
}

const STDIN_CHUNK = 64 * 1024;

export function startExec(conn: AgentConnection, spec: ExecSpec, sink: ExecSink): Promise<RunningExec> {
  return new Promise((resolveStart, rejectStart) => {
    let started = false;
    let resolveExit!: (s: ExitStatus) => void;
    let rejectExit!: (e: Error) => void;
    const exited = new Promise<ExitStatus>((res, rej) => {
      resolveExit = res;
      rejectExit = rej;
    });
    exited.catch(() => {}); // observed by the caller after start; avoid an unhandled rejection before that

    const ch = conn.open({
      frame: (f) => {
        switch (f.type) {
          case AgentFrame.Started: {
            started = true;
            const { pid } = decodeStarted(f.payload);
            resolveStart({
              pid,
              exited,
              writeStdin: async (data) => {
                for (let off = 0; off < data.length; off += STDIN_CHUNK) {
                  if (!ch.send(HostFrame.Stdin, data.subarray(off, off + STDIN_CHUNK))) await conn.drained();
                }
              },
              closeStdin: () => {
                if (!conn.closed) ch.send(HostFrame.StdinClose);
              },
              signal: (signo) => {
                if (!conn.closed) ch.send(HostFrame.Signal, encodeSignal(signo));
              },
              credit: (bytes) => {
                if (!conn.closed) ch.send(HostFrame.Credit, encodeCredit(bytes));
              },
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
            ch.release();
            resolveExit(decodeExited(f.payload));
            return;
          case AgentFrame.Error: {
            ch.release();
            const { errno, message } = decodeError(f.payload);
            const err = new AgentOpError(errno, message);
            if (started) rejectExit(err);
            else rejectStart(err);
            return;
          }
          default:
            return;
        }
      },
      closed: (err) => {
        if (started) rejectExit(err);
        else rejectStart(err);
      },
    });
    ch.send(HostFrame.Exec, encodeExec(spec));
  });
}
