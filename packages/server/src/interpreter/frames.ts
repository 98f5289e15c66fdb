/**
 * @module frames
 * Splits a driver's stdout into the user's output and the driver's frames. A frame travels as lines
 *   0x1e NONCE ' ' SEQ ' ' MORE ' ' JSON-PIECE '\n'
 * each under PIPE_BUF, so that no other writer of the pipe can land inside one. A line is a frame's
 * only if it carries the context's nonce, which user output does not know; everything else is
 * stdout, byte for byte. Sequence numbers must run on by one, and a frame's pieces follow each
 * other; any other order means something forged or broke the channel, and the splitter says so
 * once (`broken`) and takes nothing more. Everything is bounded: a line, a frame, its nesting.
 */
import { z } from 'zod';

export type SplitItem =
  { kind: 'stdout'; data: Buffer } | { kind: 'frame'; frame: DriverFrame } | { kind: 'oversize'; bytes: number } | { kind: 'broken'; reason: string };

/** A line of the channel is at most this long (the driver writes under 4096). */
const MAX_LINE = 8192;
const MAX_DEPTH = 64;
const LF = 0x0a;
const RS = 0x1e;

export class FrameSplitter {
  readonly #mark: Buffer;
  readonly #maxFrame: number;
  #carry: Buffer = Buffer.alloc(0);
  #pieces: Buffer[] = [];
  #pieceBytes = 0;
  #assembling = 0;
  #lastSeq = 0;
  #oversize = false;
  broken = false;

  constructor(nonce: string, maxFrameBytes: number) {
    this.#mark = Buffer.from(`\x1e${nonce} `, 'latin1');
    this.#maxFrame = maxFrameBytes;
  }

  push(chunk: Buffer): SplitItem[] {
    if (this.broken) return [];
    const data = this.#carry.length > 0 ? Buffer.concat([this.#carry, chunk]) : chunk;
    this.#carry = Buffer.alloc(0);
    const out: SplitItem[] = [];
    let pos = 0;
    for (;;) {
      const m = data.indexOf(this.#mark, pos);
      if (m < 0) {
        const keep = this.#partialMark(data, pos);
        const end = data.length - keep;
        if (end > pos) out.push({ kind: 'stdout', data: data.subarray(pos, end) });
        this.#carry = Buffer.from(data.subarray(end));
        return out;
      }
      if (m > pos) out.push({ kind: 'stdout', data: data.subarray(pos, m) });
      const nl = data.indexOf(LF, m + this.#mark.length);
      const lineEnd = nl < 0 ? data.length : nl;
      if (lineEnd - m > MAX_LINE) return this.#break(out, 'a frame line is over its length limit');
      if (nl < 0) {
        this.#carry = Buffer.from(data.subarray(m));
        return out;
      }
      const item = this.#piece(data.subarray(m + this.#mark.length, nl));
      if (item) out.push(item);
      if (this.broken) return out;
      pos = nl + 1;
    }
  }

  /** Bytes held back at the end (a possible start of a mark): stdout, once the stream ended. */
  flush(): Buffer {
    const c = this.#carry;
    this.#carry = Buffer.alloc(0);
    return c;
  }

  /** How long a suffix of data[pos..] could be the start of the mark. */
  #partialMark(data: Buffer, pos: number): number {
    const from = Math.max(pos, data.length - this.#mark.length + 1);
    for (let i = data.indexOf(RS, from); i >= 0 && i < data.length; i = data.indexOf(RS, i + 1)) {
      const tail = data.subarray(i);
      if (this.#mark.subarray(0, tail.length).equals(tail)) return tail.length;
    }
    return 0;
  }

  #break(out: SplitItem[], reason: string): SplitItem[] {
    this.broken = true;
    this.#pieces = [];
    out.push({ kind: 'broken', reason });
    return out;
  }

  #piece(line: Buffer): SplitItem | undefined {
    const s1 = line.indexOf(0x20);
    if (s1 < 1 || s1 > 10 || line.length < s1 + 3 || line[s1 + 2] !== 0x20) return this.#break([], 'a malformed frame line')[0];
    const seqText = line.toString('latin1', 0, s1);
    if (!/^[1-9][0-9]*$/.test(seqText)) return this.#break([], 'a malformed frame sequence number')[0];
    const seq = Number(seqText);
    const more = line[s1 + 1];
    if (more !== 0x30 && more !== 0x31) return this.#break([], 'a malformed frame line')[0];
    if (this.#assembling !== 0 ? seq !== this.#assembling : seq !== this.#lastSeq + 1) {
      return this.#break([], `frame ${seq} out of order (expected ${this.#assembling || this.#lastSeq + 1}): something else wrote to the result channel`)[0];
    }
    this.#assembling = seq;
    const payload = line.subarray(s1 + 3);
    if (this.#pieceBytes + payload.length > this.#maxFrame) {
      this.#oversize = true;
      this.#pieces = [];
    }
    this.#pieceBytes += payload.length;
    if (!this.#oversize) this.#pieces.push(Buffer.from(payload));
    if (more === 0x31) return undefined;
    this.#lastSeq = seq;
    this.#assembling = 0;
    const bytes = this.#pieceBytes;
    const text = this.#oversize ? '' : Buffer.concat(this.#pieces).toString('latin1');
    const oversize = this.#oversize;
    this.#pieces = [];
    this.#pieceBytes = 0;
    this.#oversize = false;
    if (oversize) return { kind: 'oversize', bytes };
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch {
      return this.#break([], 'a frame that is not JSON')[0];
    }
    if (!depthWithin(value, MAX_DEPTH)) return this.#break([], 'a frame nested too deeply')[0];
    const parsed = DriverFrame.safeParse(value);
    if (!parsed.success) return this.#break([], `an invalid frame: ${parsed.error.issues[0]?.message ?? 'unknown'}`)[0];
    return { kind: 'frame', frame: parsed.data };
  }
}

/** Iteratively, so that a hostile nesting cannot overflow the stack. */
export function depthWithin(value: unknown, max: number): boolean {
  const stack: [unknown, number][] = [[value, 0]];
  while (stack.length > 0) {
    const [v, d] = stack.pop()!;
    if (v === null || typeof v !== 'object') continue;
    if (d >= max) return false;
    for (const x of Array.isArray(v) ? v : Object.values(v)) if (x !== null && typeof x === 'object') stack.push([x, d + 1]);
  }
  return true;
}

const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;
const Text = z.string();
const Binary = z.string().regex(BASE64, 'not base64');
const CellId = z.string().max(64);

export const DriverError = z.object({ name: z.string().max(256), value: z.string().max(256 * 1024), traceback: z.string().max(256 * 1024) });

const ResultFrame = z.object({
  type: z.literal('result'),
  cell: CellId,
  isMainResult: z.boolean(),
  truncated: z.boolean().optional(),
  text: Text.optional(),
  html: Text.optional(),
  markdown: Text.optional(),
  svg: Text.optional(),
  latex: Text.optional(),
  javascript: Text.optional(),
  png: Binary.optional(),
  jpeg: Binary.optional(),
  pdf: Binary.optional(),
  json: z.unknown().optional(),
  chart: z.record(z.string(), z.unknown()).optional(),
  data: z.record(z.string(), z.unknown()).optional(),
});

export const DriverFrame = z.discriminatedUnion('type', [
  z.object({ type: z.literal('fence'), cell: CellId }),
  z.object({ type: z.literal('ready'), language: z.string().max(32), version: z.string().max(64), pid: z.number().int() }),
  ResultFrame,
  z.object({
    type: z.literal('end'),
    cell: CellId,
    executionCount: z.number().int().min(0),
    resultsDropped: z.number().int().min(0).optional(),
    error: DriverError.optional(),
  }),
]);
export type DriverFrame = z.infer<typeof DriverFrame>;
export type ResultFrame = z.infer<typeof ResultFrame>;
