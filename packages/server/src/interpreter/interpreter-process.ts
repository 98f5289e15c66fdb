/**
 * @module interpreter-process
 * One running interpreter: a long-lived process of the sandbox running a driver, its journal read
 * by a pacing reader (so a flood is held back in the sandbox, not buffered here), its stdout split
 * into user output and frames, and the one cell it runs at a time. Whatever the process does (dies,
 * forges or breaks frames, floods, stops reading), the cell it runs ends, with an error that says
 * why; a process that broke its channel is killed, and its context starts a fresh one.
 */
import { randomBytes } from 'node:crypto';
import type { CodeError, CodeLanguage, CodeResult } from '@airlock/protocol';
import { ErrorCode } from '@airlock/protocol/errors';
import { AirlockError } from '../errors.js';
import type { ProcessEntry } from '../processes/process-entry.js';
import { bootLine, runLine } from './drivers.js';
import { FrameSplitter, type DriverFrame, type ResultFrame } from './frames.js';

export interface CellSink {
  stdout(text: string): Promise<void>;
  stderr(text: string): Promise<void>;
  result(r: CodeResult): Promise<void>;
}

export interface CellOptions {
  timeoutMs: number;
  maxOutputBytes: number;
  figureFormats: string[];
  signal?: AbortSignal | undefined;
}

export interface CellOutcome {
  error: CodeError | null;
  executionCount: number | null;
  stdoutTruncated: boolean;
  stderrTruncated: boolean;
  resultsDropped: number;
}

export interface InterpreterLimits {
  maxResultBytes: number;
  maxResultsPerCell: number;
  readyTimeoutMs: number;
  /** After an interrupt that the cell ignores, how long until the process is killed. */
  killGraceMs: number;
}

const SIGINT = 2;
const FENCE_WAIT_MS = 2000;
/** What the results of one cell may hold in all (a buffered Execution is held in memory). */
const MAX_RESULT_BYTES_PER_CELL = 32 * 1024 * 1024;
const SIGKILL = 9;

export class InterpreterProcess {
  readonly entry: ProcessEntry;
  readonly language: CodeLanguage;
  readonly #limits: InterpreterLimits;
  readonly #nonce = randomBytes(16).toString('hex');
  readonly #splitter: FrameSplitter;
  /** stderr carries the user's bytes and one frame per cell: the fence (see #frame). */
  readonly #errSplitter: FrameSplitter;
  readonly #reader;
  #cell: ActiveCell | undefined;
  #ready: { resolve: () => void; reject: (e: Error) => void } | undefined;
  #bootStderr = '';
  /** Set once the process ended or was given up on: no cell runs on it again. */
  dead: string | undefined;
  /** The driver's own execution count. */
  executionCount = 0;

  readonly #preload: string[];
  readonly #onEnd: (() => void) | undefined;

  constructor(entry: ProcessEntry, language: CodeLanguage, limits: InterpreterLimits, preload: string[] = [], onEnd?: () => void) {
    this.entry = entry;
    this.#preload = preload;
    this.#onEnd = onEnd;
    this.language = language;
    this.#limits = limits;
    this.#splitter = new FrameSplitter(this.#nonce, 2 * limits.maxResultBytes + 1024 * 1024);
    this.#errSplitter = new FrameSplitter(this.#nonce, 4096);
    this.#reader = entry.reader(0, { onGap: 'skip', pace: true });
  }

  /** Sends the driver and waits for its `ready`; kills the process if it does not come. */
  async boot(): Promise<void> {
    const ready = new Promise<void>((resolve, reject) => (this.#ready = { resolve, reject }));
    void this.#loop();
    const timer = setTimeout(() => this.#ready?.reject(new Error(`no ready within ${this.#limits.readyTimeoutMs} ms`)), this.#limits.readyTimeoutMs);
    try {
      await this.entry.channel?.writeStdin(bootLine(this.language, this.#nonce, this.#limits, this.#preload));
      await ready;
    } catch (e) {
      this.kill(`the ${this.language} interpreter did not start`);
      const why = this.#bootStderr.trim().slice(-2000);
      throw new AirlockError(ErrorCode.ExecFailed, `the ${this.language} interpreter did not start (${(e as Error).message})${why ? `: ${why}` : ''}`);
    } finally {
      clearTimeout(timer);
      this.#ready = undefined;
    }
  }

  get busy(): boolean {
    return this.#cell !== undefined;
  }

  /** Runs one cell; the caller makes sure there is one at a time. */
  async run(code: string, opts: CellOptions, sink: CellSink): Promise<CellOutcome> {
    if (this.dead) throw new AirlockError(ErrorCode.InvalidState, `the interpreter ended (${this.dead})`);
    const id = randomBytes(8).toString('hex');
    const cell = new ActiveCell(id, sink, opts.maxOutputBytes, this.#limits);
    this.#cell = cell;
    const timers: NodeJS.Timeout[] = [];
    timers.push(
      setTimeout(() => {
        cell.timedOutMs = opts.timeoutMs;
        this.interrupt();
        timers.push(
          setTimeout(() => this.kill(`the cell ran past its timeout of ${opts.timeoutMs} ms and did not stop when interrupted`), this.#limits.killGraceMs),
        );
      }, opts.timeoutMs),
    );
    const onAbort = () => this.interrupt();
    opts.signal?.addEventListener('abort', onAbort, { once: true });
    try {
      this.entry.channel?.writeStdin(runLine(this.language, id, code, opts.figureFormats)).catch(() => {});
      return await cell.outcome;
    } finally {
      for (const t of timers) clearTimeout(t);
      opts.signal?.removeEventListener('abort', onAbort);
      if (this.#cell === cell) this.#cell = undefined;
    }
  }

  interrupt(): void {
    if (!this.dead) this.entry.channel?.signal(SIGINT);
  }

  /** Kills the process group; the running cell (if any) ends with `why`. */
  kill(why: string): void {
    if (!this.dead) this.dead = why;
    this.entry.channel?.signal(SIGKILL);
    this.#cell?.fail({ name: 'ContextDied', value: `${why}; the context starts a fresh interpreter for its next cell (its state is lost)`, traceback: '' });
  }

  async #loop(): Promise<void> {
    try {
      for (;;) {
        const items = await this.#reader.next();
        if (items === 'end') break;
        for (const it of items) {
          if (it.type === 'gap') {
            this.#broken('output of the interpreter was lost');
            continue;
          }
          if (it.stream === 1) {
            for (const s of this.#errSplitter.push(it.data)) await this.#dispatchErr(s);
            continue;
          }
          for (const s of this.#splitter.push(it.data)) await this.#dispatch(s);
        }
        this.#reader.took();
      }
    } catch (e) {
      this.#broken(`the interpreter's output could not be read (${(e as Error).message})`);
    }
    this.#reader.close();
    const exit = this.entry.exit;
    const how = exit ? (exit.reason === 'exit' ? `exit code ${exit.code}` : exit.reason === 'signal' ? `signal ${exit.signal}` : exit.reason) : 'ended';
    if (!this.dead) this.dead = `the interpreter exited (${how})`;
    this.#ready?.reject(new Error(this.dead));
    const cause = exit?.reason === 'sandbox_stopped' ? 'the sandbox stopped' : exit?.reason === 'oom' ? 'the sandbox ran out of memory' : this.dead;
    this.#cell?.fail({
      name: 'ContextDied',
      value: `${cause} while the cell ran; the context starts a fresh interpreter for its next cell (its state is lost)`,
      traceback: '',
    });
    this.#onEnd?.();
  }

  async #dispatchErr(s: ReturnType<FrameSplitter['push']>[number]): Promise<void> {
    if (s.kind === 'stdout') {
      if (this.#cell) await this.#cell.stderr(s.data);
      else if (this.#ready) this.#bootStderr = (this.#bootStderr + s.data.toString()).slice(-4096);
    } else if (s.kind === 'frame' && s.frame.type === 'fence') {
      if (this.#cell && s.frame.cell === this.#cell.id) this.#cell.fence();
    } else {
      this.#broken(`on stderr: ${s.kind === 'broken' ? s.reason : 'a frame that is not a fence'}`);
    }
  }

  async #dispatch(s: ReturnType<FrameSplitter['push']>[number]): Promise<void> {
    switch (s.kind) {
      case 'stdout':
        if (this.#cell) await this.#cell.stdout(s.data);
        return;
      case 'broken':
        this.#broken(s.reason);
        return;
      case 'oversize':
        if (this.#cell)
          await this.#cell.result({ isMainResult: false, truncated: true, text: `[a result of ${s.bytes} bytes was over the size limit and dropped]` });
        return;
      case 'frame':
        return this.#frame(s.frame);
    }
  }

  async #frame(f: DriverFrame): Promise<void> {
    if (f.type === 'ready') {
      this.#ready?.resolve();
      return;
    }
    if (f.type === 'fence') return this.#broken('a fence on stdout');
    const cell = this.#cell;
    if (!cell || f.cell !== cell.id) return; // a late frame of a cell given up on
    if (f.type === 'result') {
      await cell.result(boundResult(f, this.#limits.maxResultBytes));
      return;
    }
    this.executionCount = f.executionCount;
    cell.end(f.executionCount, f.error ?? null, f.resultsDropped ?? 0);
  }

  #broken(reason: string): void {
    this.kill(`the interpreter's result channel broke: ${reason}`);
  }
}

/** The cell being run: its output caps, its decoders, its end. */
class ActiveCell {
  readonly id: string;
  readonly #sink: CellSink;
  readonly #cap: number;
  readonly #limits: InterpreterLimits;
  readonly #dec = { stdout: new TextDecoder('utf-8'), stderr: new TextDecoder('utf-8') };
  readonly #bytes = { stdout: 0, stderr: 0 };
  readonly truncated = { stdout: false, stderr: false };
  #results = 0;
  #resultBytes = 0;
  #dropped = 0;
  #done = false;
  #fenced = false;
  #ended: { error: CodeError | null; executionCount: number | null; resultsDropped: number } | undefined;
  #fenceTimer: NodeJS.Timeout | undefined;
  #resolve!: (o: CellOutcome) => void;
  readonly outcome: Promise<CellOutcome>;
  timedOutMs: number | undefined;

  constructor(id: string, sink: CellSink, cap: number, limits: InterpreterLimits) {
    this.id = id;
    this.#sink = sink;
    this.#cap = cap;
    this.#limits = limits;
    this.outcome = new Promise((r) => (this.#resolve = r));
  }

  stdout(data: Buffer): Promise<void> {
    return this.#out('stdout', data);
  }

  stderr(data: Buffer): Promise<void> {
    return this.#out('stderr', data);
  }

  async #out(stream: 'stdout' | 'stderr', data: Buffer): Promise<void> {
    if (this.#done) return;
    const room = this.#cap - this.#bytes[stream];
    if (room <= 0) {
      if (data.length > 0) this.truncated[stream] = true;
      return;
    }
    const keep = data.length > room ? data.subarray(0, room) : data;
    if (keep.length < data.length) this.truncated[stream] = true;
    this.#bytes[stream] += keep.length;
    const text = this.#dec[stream].decode(keep, { stream: true });
    if (text) await this.#sink[stream](text);
  }

  async result(r: CodeResult): Promise<void> {
    if (this.#done) return;
    const size = resultSize(r);
    if (this.#results >= this.#limits.maxResultsPerCell || this.#resultBytes + size > MAX_RESULT_BYTES_PER_CELL) {
      this.#dropped++;
      return;
    }
    this.#results++;
    this.#resultBytes += size;
    await this.#sink.result(r);
  }

  end(executionCount: number, error: CodeError | null, dropped: number): void {
    if (this.timedOutMs !== undefined && error?.name === 'KeyboardInterrupt') {
      error = {
        ...error,
        name: 'TimeoutError',
        value: `the cell ran past its timeout of ${this.timedOutMs} ms and was interrupted; the context keeps its state`,
      };
    }
    this.#ended = { error, executionCount, resultsDropped: this.#dropped + dropped };
    // stderr is another pipe, read apart: the cell ends once its fence came through it too, or
    // shortly after (a cell that closed the driver's copy of stderr has no fence).
    if (this.#fenced) this.#finish(this.#ended);
    else this.#fenceTimer = setTimeout(() => this.#ended && this.#finish(this.#ended), FENCE_WAIT_MS);
  }

  fence(): void {
    this.#fenced = true;
    if (this.#ended) this.#finish(this.#ended);
  }

  fail(error: CodeError): void {
    this.#finish({ error, executionCount: null, resultsDropped: this.#dropped });
  }

  #finish(o: { error: CodeError | null; executionCount: number | null; resultsDropped: number }): void {
    if (this.#done) return;
    this.#done = true;
    clearTimeout(this.#fenceTimer);
    // What the decoders still hold (a cut UTF-8 sequence) is dropped rather than sent after the end.
    this.#resolve({ ...o, stdoutTruncated: this.truncated.stdout, stderrTruncated: this.truncated.stderr });
  }
}

function resultSize(r: CodeResult): number {
  let n = 0;
  for (const v of Object.values(r)) n += typeof v === 'string' ? v.length : typeof v === 'object' && v !== null ? JSON.stringify(v).length : 8;
  return n;
}

const TEXT_FIELDS = ['text', 'html', 'markdown', 'svg', 'latex', 'javascript'] as const;
const BINARY_FIELDS = ['png', 'jpeg', 'pdf'] as const;

/** A driver's result within the limits: text cut, an image over the limit dropped, with the flag. */
export function boundResult(f: ResultFrame, max: number): CodeResult {
  const r: CodeResult = { isMainResult: f.isMainResult };
  let truncated = f.truncated === true;
  for (const k of TEXT_FIELDS) {
    const v = f[k];
    if (v === undefined) continue;
    if (v.length > max) truncated = true;
    r[k] = v.length > max ? v.slice(0, max) : v;
  }
  for (const k of BINARY_FIELDS) {
    const v = f[k];
    if (v === undefined) continue;
    if (v.length > max) truncated = true;
    else r[k] = v;
  }
  for (const k of ['json', 'chart', 'data'] as const) {
    if (f[k] === undefined) continue;
    if (JSON.stringify(f[k]).length > max) truncated = true;
    else (r as Record<string, unknown>)[k] = f[k];
  }
  if (truncated) r.truncated = true;
  return r;
}
