/**
 * @module output-queue
 * An async queue of exec events between the agent channel and one consumer (an HTTP stream or the
 * buffered collector). Above `highWater` queued bytes it holds reading on the agent channel, so a
 * slow consumer slows the producing process instead of growing server memory.
 */
import type { ExitReason } from '@airlock/protocol';
import type { AgentConnection } from '../agent-channel/agent-connection.js';

export type OutputEvent =
  | { type: 'stdout'; data: Buffer }
  | { type: 'stderr'; data: Buffer }
  | { type: 'exit'; exitCode: number | null; signal: number | null; reason: ExitReason; durationMs: number };

export class OutputQueue implements AsyncIterable<OutputEvent> {
  readonly #conn: AgentConnection;
  readonly #highWater: number;
  readonly #onAbandon: () => void;
  #items: OutputEvent[] = [];
  #bytes = 0;
  #holding = false;
  #ended = false;
  #abandoned = false;
  #wake: (() => void) | undefined;

  constructor(conn: AgentConnection, onAbandon: () => void, highWater = 1024 * 1024) {
    this.#conn = conn;
    this.#onAbandon = onAbandon;
    this.#highWater = highWater;
  }

  push(ev: OutputEvent): void {
    if (this.#ended) return;
    this.#items.push(ev);
    if (ev.type === 'stdout' || ev.type === 'stderr') {
      this.#bytes += ev.data.length;
      if (!this.#holding && this.#bytes > this.#highWater) {
        this.#holding = true;
        this.#conn.hold();
      }
    }
    if (ev.type === 'exit') this.#ended = true;
    this.#wake?.();
    this.#wake = undefined;
  }

  /**
   * The consumer is gone (client disconnected): stop the process and wake a pending read. Needed
   * beside the iterator's return(), which an async generator defers while a next() is pending.
   */
  abandon(): void {
    if (this.#abandoned) return;
    this.#abandoned = true;
    this.#ended = true;
    this.#items = [];
    this.#releaseHold();
    this.#onAbandon();
    this.#wake?.();
    this.#wake = undefined;
  }

  async *[Symbol.asyncIterator](): AsyncIterator<OutputEvent> {
    let finished = false;
    try {
      for (;;) {
        const ev = this.#items.shift();
        if (ev === undefined) {
          if (this.#ended) return;
          await new Promise<void>((r) => (this.#wake = r));
          continue;
        }
        if (ev.type === 'stdout' || ev.type === 'stderr') {
          this.#bytes -= ev.data.length;
          if (this.#holding && this.#bytes <= this.#highWater / 2) this.#releaseHold();
        }
        yield ev;
        if (ev.type === 'exit') {
          finished = true;
          return;
        }
      }
    } finally {
      this.#releaseHold();
      // The consumer stopped before the end (e.g. the client disconnected): stop the process.
      if (!finished) this.abandon();
    }
  }

  #releaseHold(): void {
    if (this.#holding) {
      this.#holding = false;
      this.#conn.release();
    }
  }
}
