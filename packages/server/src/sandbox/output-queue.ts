/**
 * @module output-queue
 * An async queue of exec events between the agent channel and one consumer (an HTTP stream or the
 * buffered collector). Flow control is per exec: the agent may run INITIAL_CREDIT bytes ahead, and
 * the queue grants more as the consumer takes output. A slow consumer therefore stalls only its own
 * process, in `write`, and the server never holds more than about one window per exec. An agent that
 * ignores its credit is a protocol violation.
 */
import type { ExitReason } from '@airlock/protocol';
import { CreditLedger } from '../agent-channel/credit.js';

export type OutputEvent =
  | { type: 'stdout'; data: Buffer }
  | { type: 'stderr'; data: Buffer }
  | { type: 'exit'; exitCode: number | null; signal: number | null; reason: ExitReason; durationMs: number; detail?: string };

export interface OutputControl {
  /** Lets the producer send `bytes` more. */
  credit(bytes: number): void;
  /** The consumer is gone: stop the producer. */
  abandon(): void;
  /** The producer broke its credit: end the channel. */
  violation(message: string): void;
}

export class OutputQueue implements AsyncIterable<OutputEvent> {
  #control: OutputControl | undefined;
  #items: OutputEvent[] = [];
  readonly #credit = new CreditLedger();
  #ended = false;
  #abandoned = false;
  /** An overrun seen before bind(): reported as soon as there is someone to report it to. */
  #overrun: string | undefined;
  #wake: (() => void) | undefined;

  /** Connects the queue to its producer once the process has started. */
  bind(control: OutputControl): void {
    this.#control = control;
    if (this.#overrun !== undefined) control.violation(this.#overrun);
    if (this.#abandoned) control.abandon();
  }

  push(ev: OutputEvent): void {
    if (this.#ended) return;
    this.#items.push(ev);
    if (ev.type !== 'exit') {
      const overrun = this.#credit.received(ev.data.length);
      if (overrun) {
        if (this.#control) this.#control.violation(overrun);
        else this.#overrun = overrun;
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
        if (ev.type !== 'exit') {
          const grant = this.#credit.taken(ev.data.length);
          if (grant > 0) this.#control?.credit(grant);
        }
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
}
