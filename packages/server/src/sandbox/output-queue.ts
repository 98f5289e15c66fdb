/**
 * @module output-queue
 * An async queue of exec events between the agent channel and one consumer (an HTTP stream or the
 * buffered collector). Flow control is per exec: the agent may run INITIAL_CREDIT bytes ahead, and
 * the queue grants more as the consumer takes output. A slow consumer therefore stalls only its own
 * process, in `write`, and the server never holds more than about one window per exec. An agent that
 * ignores its credit is a protocol violation.
 */
import { INITIAL_CREDIT } from '@airlock/agent';
import type { ExitReason } from '@airlock/protocol';

export type OutputEvent =
  | { type: 'stdout'; data: Buffer }
  | { type: 'stderr'; data: Buffer }
  | { type: 'exit'; exitCode: number | null; signal: number | null; reason: ExitReason; durationMs: number };

export interface OutputControl {
  /** Lets the producer send `bytes` more. */
  credit(bytes: number): void;
  /** The consumer is gone: stop the producer. */
  abandon(): void;
  /** The producer broke its credit: end the channel. */
  violation(message: string): void;
}

/** Grants are batched: a CREDIT frame per 32 KiB taken, not per chunk. */
const GRANT_BATCH = 32 * 1024;
/** What a well-behaved agent can have in flight is the window; anything far above it is hostile. */
const VIOLATION_BYTES = 4 * INITIAL_CREDIT;

export class OutputQueue implements AsyncIterable<OutputEvent> {
  #control: OutputControl | undefined;
  #items: OutputEvent[] = [];
  #bytes = 0;
  #ungranted = 0;
  #ended = false;
  #abandoned = false;
  #wake: (() => void) | undefined;

  /** Connects the queue to its producer once the process has started. */
  bind(control: OutputControl): void {
    this.#control = control;
    if (this.#abandoned) control.abandon();
  }

  push(ev: OutputEvent): void {
    if (this.#ended) return;
    this.#items.push(ev);
    if (ev.type !== 'exit') {
      this.#bytes += ev.data.length;
      if (this.#bytes > VIOLATION_BYTES) {
        this.#control?.violation(`agent sent ${this.#bytes} bytes of output beyond its flow-control credit`);
      }
    } else {
      this.#ended = true;
    }
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
    this.#control?.abandon();
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
        if (ev.type !== 'exit') this.#taken(ev.data.length);
        yield ev;
        if (ev.type === 'exit') {
          finished = true;
          return;
        }
      }
    } finally {
      // The consumer stopped before the end (e.g. the client disconnected): stop the process.
      if (!finished) this.abandon();
    }
  }

  #taken(n: number): void {
    this.#bytes -= n;
    this.#ungranted += n;
    if (this.#ungranted >= GRANT_BATCH) {
      this.#control?.credit(this.#ungranted);
      this.#ungranted = 0;
    }
  }
}
