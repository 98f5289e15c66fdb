/**
 * @module process-channel
 * One process of the agent's registry, as the host follows it: started (EXEC) or subscribed to again
 * (SUBSCRIBE, after a reconnect), its output per stream at absolute offsets, acknowledged by offset
 * (ACK) once the host holds it, and its end. Also the registry calls: PROC_LIST and FORGET. The
 * connection guarantees the order of frames; this module decodes payloads and checks that the agent
 * stays within its window (a ProtocolError or an overrun is a violation of the sandbox).
 */
import {
  AgentFrame,
  HostFrame,
  INITIAL_CREDIT,
  MAX_PAYLOAD,
  STDIN_WINDOW,
  decodeStdinAck,
  ProtocolError,
  decodeError,
  decodeExited,
  decodeProcInfo,
  decodeStarted,
  decodeSubscribed,
  encodeAck,
  encodeExec,
  encodeForget,
  encodeResize,
  encodeSignal,
  encodeSubscribe,
  type ExecSpec,
  type ProcInfo,
} from '@airlock/agent';
import { ErrorCode } from '@airlock/protocol/errors';
import { AirlockError } from '../errors.js';
import type { AgentConnection, Channel } from './agent-connection.js';
import { AgentOpError, AgentTimeoutError } from './errors.js';

export type Stream = 0 | 1;

export interface ProcessSink {
  /** Output of stream 0 (stdout, or the terminal) or 1 (stderr), starting at `offset` of that stream. */
  data(stream: Stream, offset: number, data: Buffer): void;
  exited(status: { code: number | null; signal: number | null }): void;
  /** The channel ended without EXITED (the connection closed, the agent refused): the host no longer follows it. */
  lost(err: Error): void;
}

export interface ProcessChannel {
  pid: number;
  /** Where each stream starts on this channel, and whether bytes the host asked for were gone. */
  from: [number, number];
  gap: [boolean, boolean];
  /** The host holds each stream's output up to these offsets: the agent frees it and may send more. */
  ack(to: [number, number]): void;
  writeStdin(data: Uint8Array): Promise<void>;
  closeStdin(): void;
  signal(signo: number): void;
  resize(cols: number, rows: number): void;
}

/** A well-behaved agent has at most one window per stream beyond the last ACK in flight. */
const OVERRUN = 4 * INITIAL_CREDIT;
const STDIN_CHUNK = 64 * 1024;

/**
 * EXEC (the first subscription) or SUBSCRIBE (a later one); resolves once STARTED or SUBSCRIBED
 * arrived. A SUBSCRIBED that comes after the promise gave up is offered to `followLate`: if it takes
 * the channel (returns true) the process is followed after all, and otherwise it waits at its ring.
 */
export function openProcess(
  conn: AgentConnection,
  how: { spec: ExecSpec } | { id: string; from: [number, number] },
  sink: ProcessSink,
  options: { startTimeoutMs: number; followLate?: (ch: ProcessChannel) => boolean },
): Promise<ProcessChannel> {
  const request = 'spec' in how ? encodeExec(how.spec) : encodeSubscribe(how.id, how.from);
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
    const received: [number, number] = [0, 0];
    const acked: [number, number] = [0, 0];
    // Stdin under the agent's window: at most STDIN_WINDOW bytes the process has not taken yet.
    let stdinSent = 0;
    let stdinTaken = 0;
    let ended = false;
    const stdinWaiters: (() => void)[] = [];
    const wakeStdin = () => {
      for (const w of stdinWaiters.splice(0)) w();
    };
    const send = (type: number, payload?: Uint8Array) => {
      if (!conn.closed) ch.send(type, payload);
    };
    const timer = setTimeout(() => {
      gaveUp = true;
      rejectStart(new AgentTimeoutError(`the agent did not start the command within ${options.startTimeoutMs} ms`));
    }, options.startTimeoutMs);
    const begin = (pid: number, from: [number, number], gap: [boolean, boolean]) => {
      clearTimeout(timer);
      started = true;
      received[0] = acked[0] = from[0];
      received[1] = acked[1] = from[1];
      const channel: ProcessChannel = {
        pid,
        from,
        gap,
        ack: (to) => {
          if (to[0] <= acked[0] && to[1] <= acked[1]) return;
          acked[0] = Math.max(acked[0], to[0]);
          acked[1] = Math.max(acked[1], to[1]);
          send(HostFrame.Ack, encodeAck(acked));
        },
        writeStdin: async (data) => {
          for (let off = 0; off < data.length; off += STDIN_CHUNK) {
            const part = data.subarray(off, off + STDIN_CHUNK);
            while (!ended && !conn.closed && stdinSent + part.length - stdinTaken > STDIN_WINDOW) await new Promise<void>((r) => stdinWaiters.push(r));
            if (conn.closed || ended) return;
            stdinSent += part.length;
            if (!ch.send(HostFrame.Stdin, part)) await conn.drained();
          }
        },
        closeStdin: () => send(HostFrame.StdinClose),
        signal: (signo) => send(HostFrame.Signal, encodeSignal(signo)),
        resize: (cols, rows) => send(HostFrame.Resize, encodeResize(cols, rows)),
      };
      if (!gaveUp) return resolveStart(channel);
      // Started after we gave up on it. An exec is killed: nobody follows it, and its caller was
      // told it failed. A process subscribed to again is the tenant's and was running before this
      // server came: it is never killed for the server's slowness. It is followed from here if the
      // caller still takes it, and otherwise waits at its ring for the next RESET.
      if ('spec' in how) send(HostFrame.Signal, encodeSignal(9));
      else if (options.followLate?.(channel)) gaveUp = false;
    };
    const ch: Channel = conn.open('spec' in how ? 'exec' : 'subscribe', {
      frame: (f) => {
        switch (f.type) {
          case AgentFrame.Started:
            return begin(decodeStarted(f.payload).pid, [0, 0], [false, false]);
          case AgentFrame.Subscribed: {
            const s = decodeSubscribed(f.payload);
            return begin(s.pid, s.from, s.gap);
          }
          case AgentFrame.Stdout:
          case AgentFrame.Stderr: {
            const stream: Stream = f.type === AgentFrame.Stdout ? 0 : 1;
            const at = received[stream];
            received[stream] += f.payload.length;
            if (received[stream] - acked[stream] > OVERRUN) {
              conn.fail(`agent sent ${received[stream] - acked[stream]} bytes of a process's output beyond its window`);
              return;
            }
            if (!gaveUp) sink.data(stream, at, f.payload);
            return;
          }
          case AgentFrame.StdinAck: {
            stdinTaken += decodeStdinAck(f.payload);
            if (stdinTaken > stdinSent) {
              conn.fail(`agent acknowledged ${stdinTaken} bytes of stdin, ${stdinSent} were sent`);
              return;
            }
            return wakeStdin();
          }
          case AgentFrame.Exited:
            ended = true;
            wakeStdin();
            if (!gaveUp) sink.exited(decodeExited(f.payload));
            return;
          case AgentFrame.Error: {
            clearTimeout(timer);
            ended = true;
            wakeStdin();
            const { errno, message } = decodeError(f.payload);
            const err = new AgentOpError(errno, message);
            if (started) sink.lost(err);
            else rejectStart(err);
            return;
          }
        }
      },
      closed: (err) => {
        clearTimeout(timer);
        ended = true;
        wakeStdin();
        if (started) sink.lost(err);
        else rejectStart(err);
      },
    });
    ch.send('spec' in how ? HostFrame.Exec : HostFrame.Subscribe, request);
  });
}

/** More PROC_INFO than the agent can hold (PROCS_MAX live plus the ended it keeps) is a violation. */
const MAX_LISTED = 2048;

/** The agent's registry, in start order. */
export function listProcesses(conn: AgentConnection, timeoutMs: number): Promise<ProcInfo[]> {
  return new Promise((resolve, reject) => {
    const out: ProcInfo[] = [];
    const timer = setTimeout(() => reject(new AgentTimeoutError(`the agent did not list its processes within ${timeoutMs} ms`)), timeoutMs);
    const ch = conn.open('plist', {
      frame: (f) => {
        if (f.type === AgentFrame.ProcInfo) {
          if (out.length >= MAX_LISTED) throw new ProtocolError(`the agent listed more than ${MAX_LISTED} processes`);
          out.push(decodeProcInfo(f.payload));
          return;
        }
        clearTimeout(timer);
        if (f.type === AgentFrame.ProcEnd) resolve(out);
        else {
          const { errno, message } = decodeError(f.payload);
          reject(new AgentOpError(errno, message));
        }
      },
      closed: (err) => {
        clearTimeout(timer);
        reject(err);
      },
    });
    ch.send(HostFrame.ProcList);
  });
}

/** A one-answer operation (OK or ERROR) on a channel of its own. */
export function simpleOp(conn: AgentConnection, type: number, payload: Uint8Array, timeoutMs: number, what: string): Promise<void> {
  return new Promise((resolve, reject) => {
    // If open() throws (the connection closed), the promise rejects with that, and no timer is
    // left behind to touch a channel that was never made (it used to crash the server).
    let ch: ReturnType<AgentConnection['open']> | undefined;
    const timer = setTimeout(() => {
      ch?.abandon();
      reject(new AgentTimeoutError(`the agent did not ${what} within ${timeoutMs} ms`));
    }, timeoutMs);
    try {
      ch = conn.open('op', {
        frame: (f) => {
          clearTimeout(timer);
          if (f.type === AgentFrame.Ok) return resolve();
          const { errno, message } = decodeError(f.payload);
          reject(new AgentOpError(errno, message));
        },
        closed: (err) => {
          clearTimeout(timer);
          reject(err);
        },
      });
    } catch (e) {
      clearTimeout(timer);
      throw e;
    }
    ch.send(type, payload);
  });
}

export const forgetProcess = (conn: AgentConnection, id: string, timeoutMs: number) =>
  simpleOp(conn, HostFrame.Forget, encodeForget(id), timeoutMs, `forget process ${id}`);
