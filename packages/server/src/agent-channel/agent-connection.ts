/**
 * @module agent-connection
 * The server's end of one sandbox's agent channel: a unix socket to the sandbox's shim, multiplexed
 * into channels (one per exec or file operation). Frames are validated as untrusted input. Output is
 * flow-controlled per channel (CREDIT frames, see output-queue.ts and files.ts), so a slow consumer
 * stalls only its own operation and a flooding sandbox fills its own pipes, not our memory.
 */
import { connect, type Socket } from 'node:net';
import { setTimeout as delay } from 'node:timers/promises';
import {
  AgentFrame,
  FrameDecoder,
  HostFrame,
  KNOWN_AGENT_FRAMES,
  ProtocolError,
  encodeFrame,
  type Frame,
} from '@airlock/agent';

export class ChannelClosedError extends Error {
  override readonly name = 'ChannelClosedError';
}

/** The agent reported that an operation failed (errno and message from inside the sandbox). */
export class AgentOpError extends Error {
  override readonly name = 'AgentOpError';
  constructor(
    readonly errno: number,
    message: string,
  ) {
    super(message);
  }
}

type Handler = { frame(f: Frame): void; closed(err: Error): void };

export class AgentConnection {
  readonly #socket: Socket;
  readonly #decoder = new FrameDecoder();
  readonly #handlers = new Map<number, Handler>();
  readonly #closeListeners: ((err: Error) => void)[] = [];
  #nextChannel = 1;
  #closed: Error | undefined;

  private constructor(socket: Socket) {
    this.#socket = socket;
    socket.on('data', (chunk: Buffer) => this.#onData(chunk));
    socket.on('error', (e) => this.#close(new ChannelClosedError(`agent channel failed: ${e.message}`)));
    socket.on('close', () => this.#close(new ChannelClosedError('agent channel closed')));
  }

  /**
   * Connects to a sandbox's shim and proves the agent answers (a PING round trip, which works for a
   * fresh agent and for one adopted after a server restart alike).
   */
  static async connect(socketPath: string, timeoutMs: number): Promise<AgentConnection> {
    const deadline = Date.now() + timeoutMs;
    let lastError: unknown;
    while (Date.now() < deadline) {
      try {
        const socket = await openSocket(socketPath, deadline - Date.now());
        const conn = new AgentConnection(socket);
        // Whatever a previous server started is unread from now on: the agent ends it.
        conn.send(HostFrame.Reset, 0);
        await conn.ping(Math.max(1, deadline - Date.now()));
        return conn;
      } catch (e) {
        lastError = e;
        await delay(20);
      }
    }
    throw new ChannelClosedError(`agent at ${socketPath} did not answer within ${timeoutMs} ms: ${String(lastError)}`);
  }

  get closed(): boolean {
    return this.#closed !== undefined;
  }

  onClose(listener: (err: Error) => void): void {
    if (this.#closed) listener(this.#closed);
    else this.#closeListeners.push(listener);
  }

  /** Opens a channel; the handler gets every frame for it until it calls release(). */
  open(handler: Handler): { id: number; send(type: number, payload?: Uint8Array): boolean; release(): void } {
    if (this.#closed) throw this.#closed;
    const id = this.#allocate();
    this.#handlers.set(id, handler);
    return {
      id,
      send: (type, payload) => this.send(type, id, payload),
      release: () => {
        this.#handlers.delete(id);
      },
    };
  }

  send(type: number, channel: number, payload?: Uint8Array): boolean {
    if (this.#closed) throw this.#closed;
    return this.#socket.write(encodeFrame(type, channel, payload));
  }

  /** Resolves when the socket's write buffer has drained (or at once if it is not full). */
  drained(): Promise<void> {
    if (this.#closed) return Promise.reject(this.#closed);
    if (!this.#socket.writableNeedDrain) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const onDrain = () => {
        this.#socket.off('close', onClose);
        resolve();
      };
      const onClose = () => {
        this.#socket.off('drain', onDrain);
        reject(this.#closed ?? new ChannelClosedError('agent channel closed'));
      };
      this.#socket.once('drain', onDrain);
      this.#socket.once('close', onClose);
    });
  }

  async ping(timeoutMs = 5000): Promise<number> {
    const started = performance.now();
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        ch.release();
        reject(new ChannelClosedError(`agent did not answer a ping within ${timeoutMs} ms`));
      }, timeoutMs);
      const ch = this.open({
        frame: (f) => {
          if (f.type !== AgentFrame.Pong) return;
          clearTimeout(timer);
          ch.release();
          resolve();
        },
        closed: (err) => {
          clearTimeout(timer);
          reject(err);
        },
      });
      ch.send(HostFrame.Ping, Buffer.from('airlock'));
    });
    return performance.now() - started;
  }

  close(): void {
    this.#socket.destroy();
    this.#close(new ChannelClosedError('agent channel closed by the server'));
  }

  /** The agent broke the protocol: drop the channel, as for a malformed frame. */
  fail(message: string): void {
    this.#socket.destroy();
    this.#close(new ProtocolError(message));
  }

  #onData(chunk: Buffer): void {
    let frames: Frame[];
    try {
      frames = this.#decoder.push(chunk);
    } catch (e) {
      this.#socket.destroy();
      this.#close(e instanceof Error ? e : new ProtocolError(String(e)));
      return;
    }
    for (const f of frames) {
      if (!KNOWN_AGENT_FRAMES.has(f.type)) {
        this.#socket.destroy();
        this.#close(new ProtocolError(`unknown frame type 0x${f.type.toString(16)} from agent`));
        return;
      }
      if (f.type === AgentFrame.Hello) continue;
      // Frames for channels we no longer track (e.g. execs of a server that crashed) are dropped.
      this.#handlers.get(f.channel)?.frame(f);
    }
  }

  #close(err: Error): void {
    if (this.#closed) return;
    this.#closed = err;
    const handlers = [...this.#handlers.values()];
    this.#handlers.clear();
    for (const h of handlers) h.closed(err);
    for (const l of this.#closeListeners.splice(0)) l(err);
  }

  #allocate(): number {
    for (;;) {
      const id = this.#nextChannel;
      this.#nextChannel = this.#nextChannel >= 0xfffffffe ? 1 : this.#nextChannel + 1;
      if (!this.#handlers.has(id)) return id;
    }
  }
}

function openSocket(path: string, timeoutMs: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = connect(path);
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error('connect timed out'));
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
