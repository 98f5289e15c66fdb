/**
 * @module agent-connection
 * The server's end of one sandbox's agent channel: a byte stream from the runtime's transport,
 * multiplexed into channels (one per exec or file operation).
 *
 * SECURITY: every byte read here comes from inside the sandbox, which may be hostile (root inside
 * can always write frames to its own agent's pipe). Nothing a sandbox sends may throw out of this
 * module, stall the event loop or grow memory without bound:
 * - framing, frame types, the order of frames on each channel (channel-rules.ts) and the payloads
 *   (decoded by the consumers, whose ProtocolErrors are caught here) are validated;
 * - a frame for a channel the host did not open is a violation once the connection is in sync (the
 *   first PONG after RESET), and is budgeted before that;
 * - output is flow-controlled per channel (CREDIT), and consumers report an overrun as a violation;
 * - the frame and byte rate read from one sandbox is capped, so one sandbox cannot take the server's
 *   CPU from the others: reading pauses, and back-pressure reaches the sandbox's own processes.
 * A violation closes this connection with an AgentProtocolError; the sandbox layer then stops the
 * sandbox (stopReason `agent_protocol`). No other sandbox is affected.
 */
import type { Duplex } from 'node:stream';
import { AgentFrame, FrameDecoder, HostFrame, KNOWN_AGENT_FRAMES, ProtocolError, decodeOom, encodeFrame, type Frame } from '@airlock/agent';
import { ErrorCode } from '@airlock/protocol/errors';
import { AirlockError } from '../errors.js';
import type { Logger } from '../log.js';
import type { AgentTransport } from '../runtimes/runtime.js';
import { PROCESS_KINDS, judgeFrame, type ChannelKind, type ChannelPhase } from './channel-rules.js';
import { AgentProtocolError, AgentTimeoutError, ChannelClosedError } from './errors.js';

export interface ChannelLimits {
  /** Operations in flight on one sandbox (each holds at most about one credit window of output). */
  maxChannels: number;
  /** Process channels (an exec's, a subscription) open at once: one per process of the sandbox's registry. */
  maxProcessChannels: number;
  /** Bytes of frames for a previous host's channels accepted before the connection is in sync. */
  preSyncBytes: number;
  /** Frames and bytes per second read from one sandbox before reading pauses. */
  framesPerSecond: number;
  bytesPerSecond: number;
}

export const DEFAULT_CHANNEL_LIMITS: ChannelLimits = {
  maxChannels: 64,
  maxProcessChannels: 1024,
  preSyncBytes: 4 * 1024 * 1024,
  framesPerSecond: 20_000,
  bytesPerSecond: 512 * 1024 * 1024,
};

export interface ChannelHandler {
  /** A frame the channel's rules allow; the channel is released after its final frame. */
  frame(f: Frame): void;
  /** The connection closed before the channel's final frame. */
  closed(err: Error): void;
}

export interface Channel {
  readonly id: number;
  /** False when the stream's buffer is full: await `drained()` before sending more. */
  send(type: number, payload?: Uint8Array): boolean;
  /**
   * The consumer is done before the final frame: the frames still coming are checked and dropped,
   * and the channel is released at its final frame. The caller tells the agent to end the operation.
   */
  abandon(): void;
}

interface OpenChannel {
  kind: ChannelKind;
  phase: ChannelPhase;
  handler: ChannelHandler | undefined;
}

export interface ConnectionStats {
  framesIn: number;
  bytesIn: number;
  /** Milliseconds of server CPU spent on this sandbox's frames (decoding and consumers). */
  cpuMs: number;
}

export class AgentConnection {
  readonly #stream: Duplex;
  readonly #decoder = new FrameDecoder();
  readonly #channels = new Map<number, OpenChannel>();
  readonly #closeListeners: ((err: Error) => void)[] = [];
  readonly #oomListeners: ((oom: { pid: number; rssBytes: number }) => void)[] = [];
  readonly #limits: ChannelLimits;
  readonly #log: Logger | undefined;
  readonly #stats: ConnectionStats = { framesIn: 0, bytesIn: 0, cpuMs: 0 };
  #nextChannel = 1;
  #closed: Error | undefined;
  /** In sync once the first PONG arrived: from then on every frame belongs to a channel we opened. */
  #synced = false;
  #preSync = 0;
  #helloSeen = false;
  #pingOutstanding = false;
  #window = { start: 0, frames: 0, bytes: 0 };
  #resumeTimer: NodeJS.Timeout | undefined;

  private constructor(stream: Duplex, limits: ChannelLimits, log: Logger | undefined) {
    this.#stream = stream;
    this.#limits = limits;
    this.#log = log;
    stream.on('data', (chunk: Buffer) => this.#onData(chunk));
    stream.on('error', (e) => this.#close(new ChannelClosedError(`agent channel failed: ${e.message}`)));
    // EOF from the agent's side is the end: nothing more can arrive (a half-open stream is no use).
    stream.on('end', () => {
      stream.destroy();
      this.#close(new ChannelClosedError('agent channel closed'));
    });
    stream.on('close', () => this.#close(new ChannelClosedError('agent channel closed')));
  }

  /**
   * Opens a stream through the transport and proves the agent answers: RESET (a previous host's
   * channels are forgotten; its processes keep running, for the new host to list and subscribe to
   * again), then a PING round trip, which works for a fresh agent and for one adopted after a server
   * restart alike.
   */
  static async connect(transport: AgentTransport, options: { timeoutMs: number; limits?: ChannelLimits; log?: Logger }): Promise<AgentConnection> {
    const deadline = Date.now() + options.timeoutMs;
    let lastError: unknown;
    while (Date.now() < deadline) {
      let conn: AgentConnection | undefined;
      try {
        const stream = await transport.open(Math.max(1, deadline - Date.now()));
        conn = new AgentConnection(stream, options.limits ?? DEFAULT_CHANNEL_LIMITS, options.log);
        conn.#sendRaw(HostFrame.Reset, 0);
        await conn.ping(Math.max(1, deadline - Date.now()));
        return conn;
      } catch (e) {
        conn?.close();
        // A protocol violation is a verdict on the sandbox, not a reason to retry.
        if (e instanceof AgentProtocolError) throw e;
        lastError = e;
        await new Promise((r) => setTimeout(r, 20));
      }
    }
    throw new ChannelClosedError(`agent at ${transport.endpoint} did not answer within ${options.timeoutMs} ms: ${String(lastError)}`);
  }

  get closed(): boolean {
    return this.#closed !== undefined;
  }

  /** Why the connection closed, once it has. */
  get closeError(): Error | undefined {
    return this.#closed;
  }

  get stats(): Readonly<ConnectionStats> {
    return this.#stats;
  }

  /** Operations in flight (channels not yet released, draining ones included). */
  get inFlight(): number {
    return this.#channels.size;
  }

  /** The agent's memory watch killed a process (a claim of the sandbox about itself, used for its own exec reasons only). */
  onOom(listener: (oom: { pid: number; rssBytes: number }) => void): void {
    this.#oomListeners.push(listener);
  }

  onClose(listener: (err: Error) => void): void {
    if (this.#closed) listener(this.#closed);
    else this.#closeListeners.push(listener);
  }

  /** Opens a channel of the given kind; its handler gets every frame for it until its final one. */
  open(kind: ChannelKind, handler: ChannelHandler): Channel {
    if (this.#closed) throw this.#closed;
    const processes = PROCESS_KINDS.has(kind);
    const inUse = [...this.#channels.values()].filter((c) => PROCESS_KINDS.has(c.kind) === processes).length;
    if (processes && inUse >= this.#limits.maxProcessChannels) {
      throw new AirlockError(
        ErrorCode.Capacity,
        `this sandbox already has ${this.#limits.maxProcessChannels} processes the server follows; forget some that ended`,
      );
    }
    if (!processes && inUse >= this.#limits.maxChannels) {
      throw new AirlockError(ErrorCode.Capacity, `this sandbox already has ${this.#limits.maxChannels} operations in flight; wait for some to finish`);
    }
    const id = this.#allocate();
    const entry: OpenChannel = { kind, phase: 'open', handler };
    this.#channels.set(id, entry);
    return {
      id,
      send: (type, payload) => this.#sendRaw(type, id, payload),
      abandon: () => {
        entry.handler = undefined;
      },
    };
  }

  /** Resolves when the stream's write buffer has drained; rejects if the agent takes nothing for `timeoutMs`. */
  drained(timeoutMs = 30_000): Promise<void> {
    if (this.#closed) return Promise.reject(this.#closed);
    if (!this.#stream.writableNeedDrain) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const done = (err?: Error) => {
        clearTimeout(timer);
        this.#stream.off('drain', onDrain);
        this.#stream.off('close', onClose);
        if (err) reject(err);
        else resolve();
      };
      const onDrain = () => done();
      const onClose = () => done(this.#closed ?? new ChannelClosedError('agent channel closed'));
      const timer = setTimeout(() => done(new AgentTimeoutError(`the agent took no input for ${timeoutMs} ms`)), timeoutMs);
      this.#stream.once('drain', onDrain);
      this.#stream.once('close', onClose);
    });
  }

  /**
   * A PING round trip; resolves with its duration in milliseconds. At most one ping is outstanding:
   * while an earlier one is unanswered (a frozen agent), another fails at once instead of piling up.
   */
  async ping(timeoutMs = 5000): Promise<number> {
    if (this.#pingOutstanding) throw new AgentTimeoutError('the agent has not answered an earlier ping');
    const started = performance.now();
    const token = Buffer.from(`airlock-${(this.#nextChannel * 2654435761) >>> 0}`);
    await new Promise<void>((resolve, reject) => {
      let late = false;
      const timer = setTimeout(() => {
        late = true;
        reject(new AgentTimeoutError(`the agent did not answer a ping within ${timeoutMs} ms`));
      }, timeoutMs);
      const ch = this.open('ping', {
        frame: (f) => {
          clearTimeout(timer);
          this.#pingOutstanding = false;
          if (f.type !== AgentFrame.Pong) return reject(new AgentTimeoutError('the agent refused a ping'));
          if (!f.payload.equals(token)) throw new ProtocolError('PONG does not echo its PING');
          this.#synced = true;
          if (!late) resolve();
        },
        closed: (err) => {
          clearTimeout(timer);
          this.#pingOutstanding = false;
          reject(err);
        },
      });
      this.#pingOutstanding = true;
      ch.send(HostFrame.Ping, token);
    });
    return performance.now() - started;
  }

  close(): void {
    this.#stream.destroy();
    this.#close(new ChannelClosedError('agent channel closed by the server'));
  }

  /** A consumer found the agent breaking the protocol (e.g. output beyond its credit). */
  fail(message: string): void {
    this.#violation(message);
  }

  #sendRaw(type: number, channel: number, payload?: Uint8Array): boolean {
    if (this.#closed) throw this.#closed;
    return this.#stream.write(encodeFrame(type, channel, payload));
  }

  #onData(chunk: Buffer): void {
    if (this.#closed) return;
    const t0 = performance.now();
    let frames = 0;
    try {
      this.#stats.bytesIn += chunk.length;
      for (const f of this.#decoder.push(chunk)) {
        if (this.#closed) return;
        frames++;
        this.#stats.framesIn++;
        this.#dispatch(f);
      }
    } catch (e) {
      if (e instanceof ProtocolError || e instanceof AgentProtocolError) this.#violation(e.message);
      else {
        // Our own consumer failed on valid input: a bug, but one sandbox's, so only its channel pays.
        this.#log?.error({ err: e }, 'agent channel consumer failed; closing the channel');
        this.#stream.destroy();
        this.#close(new ChannelClosedError(`agent channel consumer failed: ${(e as Error).message}`));
      }
    } finally {
      this.#stats.cpuMs += performance.now() - t0;
    }
    this.#throttle(chunk.length, frames);
  }

  #dispatch(f: Frame): void {
    if (!KNOWN_AGENT_FRAMES.has(f.type)) throw new AgentProtocolError(`unknown frame type 0x${f.type.toString(16)} from the agent`);
    if (f.channel === 0) {
      if (f.type === AgentFrame.Oom) {
        const oom = decodeOom(f.payload);
        for (const l of this.#oomListeners) l(oom);
        return;
      }
      if (f.type !== AgentFrame.Hello || this.#helloSeen) throw new AgentProtocolError(`frame 0x${f.type.toString(16)} on the control channel`);
      this.#helloSeen = true;
      return;
    }
    const ch = this.#channels.get(f.channel);
    if (!ch) {
      if (this.#synced) throw new AgentProtocolError(`frame for channel ${f.channel}, which the server did not open`);
      // Queued before our RESET was read: a previous host's, budgeted and dropped.
      this.#preSync += 9 + f.payload.length;
      if (this.#preSync > this.#limits.preSyncBytes)
        throw new AgentProtocolError(`more than ${this.#limits.preSyncBytes} bytes before the agent answered RESET`);
      return;
    }
    const verdict = judgeFrame(ch.kind, ch.phase, f.type);
    if (!verdict.ok) throw new AgentProtocolError(verdict.why);
    ch.phase = verdict.phase;
    if (verdict.final) this.#channels.delete(f.channel);
    ch.handler?.frame(f);
  }

  /** Caps what one sandbox can make the server read: beyond the rate, reading pauses until the next window. */
  #throttle(bytes: number, frames: number): void {
    const now = performance.now();
    const w = this.#window;
    if (now - w.start >= 1000) {
      w.start = now;
      w.frames = 0;
      w.bytes = 0;
    }
    w.bytes += bytes;
    w.frames += frames;
    if (this.#closed || this.#resumeTimer) return;
    if (w.frames > this.#limits.framesPerSecond || w.bytes > this.#limits.bytesPerSecond) {
      this.#stream.pause();
      this.#resumeTimer = setTimeout(
        () => {
          this.#resumeTimer = undefined;
          if (!this.#closed) this.#stream.resume();
        },
        Math.max(1, 1000 - (now - w.start)),
      );
      this.#resumeTimer.unref();
    }
  }

  #violation(message: string): void {
    if (this.#closed) return;
    this.#stream.destroy();
    this.#close(new AgentProtocolError(message));
  }

  #close(err: Error): void {
    if (this.#closed) return;
    this.#closed = err;
    clearTimeout(this.#resumeTimer);
    const handlers = [...this.#channels.values()].map((c) => c.handler);
    this.#channels.clear();
    for (const h of handlers) {
      try {
        h?.closed(err);
      } catch (e) {
        this.#log?.error({ err: e }, 'agent channel close handler failed');
      }
    }
    for (const l of this.#closeListeners.splice(0)) {
      try {
        l(err);
      } catch (e) {
        this.#log?.error({ err: e }, 'agent channel close listener failed');
      }
    }
  }

  #allocate(): number {
    for (;;) {
      const id = this.#nextChannel;
      this.#nextChannel = this.#nextChannel >= 0xfffffffe ? 1 : this.#nextChannel + 1;
      if (!this.#channels.has(id)) return id;
    }
  }
}
