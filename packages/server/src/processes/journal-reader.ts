/**
 * @module journal-reader
 * One reader of a process's journal, with its own cursor: replay from an output offset, then live.
 * Readers never hold each other up. A reader that falls behind the journal's oldest byte gets a gap
 * (or an error, if it asked for one). A *pacing* reader also holds the process back: the process
 * acknowledges to the agent only what its pacing readers have taken (so a plain exec's client, or a
 * terminal attached with pacing, back-pressures the program), and a pacer that leaves lets it go on.
 */
import { ErrorCode } from '@airlock/protocol/errors';
import type { Stream } from '../agent-channel/process-channel.js';
import { AirlockError } from '../errors.js';
import type { ProcessJournal } from './journal.js';

export type OutputItem = { type: 'data'; stream: Stream; offset: number; data: Buffer } | { type: 'gap'; from: number; to: number };

export interface ReaderOptions {
  /** What a reader whose offset fell out of the journal gets: an error, or a gap and the oldest kept byte on. */
  onGap: 'error' | 'skip';
  pace: boolean;
}

export class JournalReader {
  readonly #j: ProcessJournal;
  readonly #o: ReaderOptions;
  readonly #onProgress: () => void;
  cursor: number;
  /** Per stream, how far this reader has taken: what pacing allows the agent to free. */
  readonly consumed: [number, number];
  #closed = false;

  constructor(journal: ProcessJournal, from: number, options: ReaderOptions, onProgress: () => void) {
    this.#j = journal;
    this.#o = options;
    this.#onProgress = onProgress;
    this.cursor = Math.min(Math.max(0, from), journal.head);
    this.consumed = journal.streamOffsetsAt(this.cursor);
    if (from > journal.head) throw new AirlockError(ErrorCode.InvalidRequest, `offset ${from} is beyond the output so far (${journal.head} bytes)`);
    if (from < journal.oldest && options.onGap === 'error') throw offsetGone(from, journal.oldest);
  }

  get pacing(): boolean {
    return this.#o.pace && !this.#closed;
  }

  /** The next items, waiting while caught up; 'end' once the process ended and all was read. */
  async next(): Promise<OutputItem[] | 'end'> {
    for (;;) {
      if (this.#closed) return 'end';
      const r = await this.#j.read(this.cursor);
      if (r.kind === 'gap') {
        if (this.#o.onGap === 'error') throw offsetGone(this.cursor, r.to);
        const item: OutputItem = { type: 'gap', from: this.cursor, to: r.to };
        this.cursor = r.to;
        this.consumed.splice(0, 2, ...this.#j.streamOffsetsAt(this.cursor));
        return [item];
      }
      if (r.kind === 'data' && r.records.length > 0) {
        const items: OutputItem[] = r.records.map((rec) => ({ type: 'data', stream: rec.stream, offset: rec.offset, data: rec.data }));
        const last = r.records.at(-1)!;
        this.cursor = last.offset + last.data.length;
        for (const rec of r.records) this.consumed[rec.stream] = Math.max(this.consumed[rec.stream], rec.streamOffset + rec.data.length);
        return items;
      }
      if (this.#j.ended && this.cursor >= this.#j.head) return 'end';
      await this.#j.changed();
    }
  }

  /** Tells the process this reader took its items (a pacer lets the agent send more). */
  took(): void {
    if (this.#o.pace) this.#onProgress();
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#j.poke();
    this.#onProgress();
  }
}

export function offsetGone(from: number, oldest: number): AirlockError {
  return new AirlockError(
    ErrorCode.OffsetGone,
    `output before offset ${oldest} is no longer kept (asked for ${from}); attach from ${oldest}, or ask for a gap instead of this error`,
  );
}
