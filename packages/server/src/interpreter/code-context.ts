/**
 * @module code-context
 * A code context: a stateful interpreter of one language with its own cwd and env, and a queue of
 * cells that run one at a time, in the order they came (or are refused with 409 if they ask). The
 * interpreter process behind it may die (os._exit, a kill, a broken channel, a timeout that an
 * interrupt did not stop): the context then starts a fresh one for its next cell or a restart.
 */
import { randomBytes } from 'node:crypto';
import type { CodeContextInfo, CodeLanguage } from '@airlock/protocol';
import { ErrorCode } from '@airlock/protocol/errors';
import { AirlockError } from '../errors.js';
import type { ProcessEntry } from '../processes/process-entry.js';
import { driverFor } from './drivers.js';
import { InterpreterProcess, type CellOptions, type CellOutcome, type CellSink, type InterpreterLimits } from './interpreter-process.js';

export interface ContextSpec {
  language: CodeLanguage;
  cwd: string | undefined;
  envs: Record<string, string> | undefined;
  user: string | undefined;
  isDefault: boolean;
  /** Python modules imported before the interpreter is ready. */
  preload?: string[] | undefined;
}

export interface ContextDeps {
  /** Starts the driver as a background process of the sandbox, stdin kept open. */
  start(argv: string[], spec: ContextSpec, tag: string): Promise<ProcessEntry>;
  /** Forgets an ended process of the sandbox (best effort). */
  forget(entry: ProcessEntry): void;
  /** The interpreter ended because its sandbox did: the sandbox's contexts can go. */
  sandboxGone(): void;
  limits: InterpreterLimits;
}

export class CodeContext {
  readonly id: string;
  readonly spec: ContextSpec;
  readonly createdAt = new Date().toISOString();
  readonly #d: ContextDeps;
  #proc: InterpreterProcess | undefined;
  #starting: Promise<InterpreterProcess> | undefined;
  #tail: Promise<void> = Promise.resolve();
  #queued = 0;
  #deleted = false;

  constructor(spec: ContextSpec, deps: ContextDeps) {
    this.id = spec.isDefault ? `default-${spec.language}` : `ctx-${randomBytes(6).toString('hex')}`;
    this.spec = spec;
    this.#d = deps;
  }

  get deleted(): boolean {
    return this.#deleted;
  }

  info(): CodeContextInfo {
    const p = this.#proc;
    const state = this.#starting ? 'starting' : !p || p.dead ? 'dead' : p.busy ? 'busy' : 'idle';
    return {
      id: this.id,
      language: this.spec.language,
      cwd: this.spec.cwd ?? null,
      state,
      default: this.spec.isDefault,
      executionCount: p && !p.dead ? p.executionCount : 0,
      processId: p && !p.dead ? p.entry.facts.id : null,
      createdAt: this.createdAt,
    };
  }

  /** Starts the interpreter if none runs (the first cell, after a death, or create). */
  async ensure(): Promise<InterpreterProcess> {
    if (this.#deleted) throw new AirlockError(ErrorCode.NotFound, `code context ${this.id} was deleted`);
    if (this.#proc && !this.#proc.dead) return this.#proc;
    if (!this.#starting) {
      this.#starting = (async () => {
        const old = this.#proc;
        if (old) {
          // Its processes (a fork bomb's too) are gone before a new one is started in their place:
          // an interpreter that died on its own (the OOM killer) left its process group running.
          await old.entry.waitEnd(5_000);
          if (old.entry.pid > 0) await this.#killGroup(old.entry.pid);
          this.#d.forget(old.entry);
        }
        const entry = await this.#startRetrying();
        const p = new InterpreterProcess(entry, this.spec.language, this.#d.limits, this.spec.preload, () => {
          if (entry.exit?.reason === 'sandbox_stopped') this.#d.sandboxGone();
        });
        try {
          await p.boot();
        } catch (e) {
          this.#d.forget(entry);
          throw e;
        }
        this.#proc = p;
        return p;
      })().finally(() => (this.#starting = undefined));
    }
    return this.#starting;
  }

  /** `kill -KILL -- -pgid` in the sandbox, as the interpreter's user; best effort, a few tries while the sandbox is at its pids limit. */
  async #killGroup(pgid: number): Promise<void> {
    for (let attempt = 0; attempt < 10; attempt++) {
      try {
        const e = await this.#d.start(['kill', '-KILL', '--', `-${pgid}`], this.spec, `code-context:${this.id}:cleanup`);
        await e.waitEnd(5_000);
        this.#d.forget(e);
        return;
      } catch (e) {
        if (!(e instanceof AirlockError) || e.code !== ErrorCode.Capacity) return;
        await new Promise((r) => setTimeout(r, 200 * (attempt + 1)));
      }
    }
  }

  /** A sandbox at its pids limit refuses a start with 429 for a moment after a kill: a few tries. */
  async #startRetrying(): Promise<ProcessEntry> {
    for (let attempt = 0; ; attempt++) {
      try {
        return await this.#d.start(driverFor(this.spec.language).argv, this.spec, `code-context:${this.id}`);
      } catch (e) {
        if (!(e instanceof AirlockError) || e.code !== ErrorCode.Capacity || attempt >= 10) throw e;
        await new Promise((r) => setTimeout(r, 200 * (attempt + 1)));
      }
    }
  }

  /** Runs a cell after those before it; `reject` refuses with 409 while another runs or waits. */
  async run(code: string, opts: CellOptions & { onBusy: 'wait' | 'reject' }, sink: CellSink, onStart: () => Promise<void>): Promise<CellOutcome> {
    if (opts.onBusy === 'reject' && (this.#queued > 0 || this.#proc?.busy)) {
      throw new AirlockError(ErrorCode.InvalidState, `code context ${this.id} is running another cell (onBusy: reject)`);
    }
    this.#queued++;
    const before = this.#tail;
    let release!: () => void;
    this.#tail = new Promise<void>((r) => (release = r));
    try {
      await before;
      if (opts.signal?.aborted) {
        // Its client went away while it waited: it never runs.
        return {
          error: { name: 'Cancelled', value: 'the client went away before the cell ran', traceback: '' },
          executionCount: null,
          stdoutTruncated: false,
          stderrTruncated: false,
          resultsDropped: 0,
        };
      }
      const p = await this.ensure();
      await onStart();
      return await p.run(code, opts, sink);
    } finally {
      this.#queued--;
      release();
    }
  }

  interrupt(): void {
    this.#proc?.interrupt();
  }

  /** Fresh state: the interpreter is killed (a running cell ends with an error) and started again. */
  async restart(): Promise<void> {
    this.#proc?.kill('the context was restarted');
    await this.ensure();
  }

  /** Ends the interpreter for good; waiting cells find the context gone. */
  delete(): void {
    this.#deleted = true;
    const p = this.#proc;
    if (!p) return;
    p.kill('the context was deleted');
    void p.entry.waitEnd(10_000).then(() => this.#d.forget(p.entry));
  }
}
