/**
 * @module interpreter-service
 * The code interpreter of the API, by sandbox id and context id: contexts (created, listed,
 * restarted, interrupted, deleted), a default context per language made by the first cell that
 * needs it, and running a cell. A cell over the size limit is 413, an unknown context 404, a
 * context of another language than the one asked 400. Contexts live in this server's memory; their
 * interpreters are processes of the sandbox and end with it.
 */
import { CODE_LIMITS, type CodeLanguage, type CreateContextRequest, type RunCodeRequest } from '@airlock/protocol';
import { ErrorCode } from '@airlock/protocol/errors';
import { AirlockError } from '../errors.js';
import type { ProcessService } from '../processes/process-service.js';
import { CodeContext, type ContextSpec } from './code-context.js';
import type { CellOutcome, CellSink, InterpreterLimits } from './interpreter-process.js';

export interface InterpreterDeps {
  processes: ProcessService;
  /** The same, for sandboxes still waiting in a warm pool (prewarm). */
  poolProcesses: ProcessService;
  /** Throws 404 / 409 unless the sandbox runs. */
  requireRunning(sandboxId: string): Promise<void>;
  limits?: Partial<InterpreterLimits>;
}

export interface PreparedRun {
  context: CodeContext;
  run(sink: CellSink, signal: AbortSignal | undefined, onStart: () => Promise<void>): Promise<CellOutcome>;
}

export class InterpreterService {
  readonly #d: InterpreterDeps;
  readonly #limits: InterpreterLimits;
  readonly #bySandbox = new Map<string, Map<string, CodeContext>>();

  constructor(deps: InterpreterDeps) {
    this.#d = deps;
    this.#limits = {
      maxResultBytes: CODE_LIMITS.maxResultBytes,
      maxResultsPerCell: CODE_LIMITS.maxResultsPerCell,
      readyTimeoutMs: 60_000,
      killGraceMs: 3_000,
      ...deps.limits,
    };
  }

  async create(sandboxId: string, req: CreateContextRequest): Promise<CodeContext> {
    await this.#running(sandboxId);
    return this.#add(sandboxId, { language: req.language ?? 'python', cwd: req.cwd, envs: req.envs, user: req.user, isDefault: false, preload: req.preload });
  }

  async list(sandboxId: string): Promise<CodeContext[]> {
    await this.#running(sandboxId);
    return [...(this.#bySandbox.get(sandboxId)?.values() ?? [])];
  }

  async get(sandboxId: string, cid: string): Promise<CodeContext> {
    await this.#running(sandboxId);
    const c = this.#bySandbox.get(sandboxId)?.get(cid);
    if (!c) throw new AirlockError(ErrorCode.NotFound, `no code context ${cid} in sandbox ${sandboxId}`);
    return c;
  }

  async delete(sandboxId: string, cid: string): Promise<void> {
    const c = await this.get(sandboxId, cid);
    this.#bySandbox.get(sandboxId)?.delete(cid);
    c.delete();
  }

  async interrupt(sandboxId: string, cid: string): Promise<CodeContext> {
    const c = await this.get(sandboxId, cid);
    c.interrupt();
    return c;
  }

  async restart(sandboxId: string, cid: string): Promise<CodeContext> {
    const c = await this.get(sandboxId, cid);
    await c.restart();
    return c;
  }

  /** A pooled sandbox's default Python context, started before anyone claims the sandbox. */
  async prewarm(sandboxId: string, preload: string[]): Promise<void> {
    const c = this.#register(
      sandboxId,
      { language: 'python', cwd: undefined, envs: undefined, user: undefined, isDefault: true, preload },
      this.#d.poolProcesses,
    );
    try {
      await c.ensure();
    } catch (e) {
      this.#bySandbox.get(sandboxId)?.delete(c.id);
      throw e;
    }
  }

  /**
   * A pooled sandbox was handed out. Its warm context ran nothing but the pool's imports, and it is
   * the claimant's alone from now on; but it was started without the claimant's env, so with an env
   * it is dropped and the first cell starts one that has it (cold, as without a pool).
   */
  claimed(sandboxId: string, env: Record<string, string>): void {
    if (Object.keys(env).length === 0) return;
    const m = this.#bySandbox.get(sandboxId);
    for (const c of m?.values() ?? []) c.delete();
    this.#bySandbox.delete(sandboxId);
  }

  /**
   * Checks a cell (413, 404, 400) and finds its context before anything is streamed; the returned
   * run waits for its turn, then runs it.
   */
  async prepare(sandboxId: string, req: RunCodeRequest): Promise<PreparedRun> {
    const size = Buffer.byteLength(req.code, 'utf8');
    if (size > CODE_LIMITS.maxCellBytes)
      throw new AirlockError(ErrorCode.PayloadTooLarge, `the cell is ${size} bytes; a cell is at most ${CODE_LIMITS.maxCellBytes}`);
    await this.#running(sandboxId);
    let context: CodeContext;
    if (req.context !== undefined) {
      context = await this.get(sandboxId, req.context);
      if (req.language !== undefined && req.language !== context.spec.language) {
        throw new AirlockError(ErrorCode.InvalidRequest, `language: context ${context.id} runs ${context.spec.language}, not ${req.language}`);
      }
    } else {
      context = this.#defaultOf(sandboxId, req.language ?? 'python');
    }
    const opts = {
      timeoutMs: req.timeoutMs ?? CODE_LIMITS.defaultTimeoutMs,
      maxOutputBytes: req.maxOutputBytes ?? CODE_LIMITS.defaultMaxOutputBytes,
      figureFormats: req.figureFormats ?? ['png'],
      onBusy: req.onBusy ?? 'wait',
    };
    return {
      context,
      run: (sink, signal, onStart) => context.run(req.code, { ...opts, signal }, sink, onStart),
    };
  }

  /** A sandbox that is gone takes its contexts with it (their processes ended with it). */
  async #running(sandboxId: string): Promise<void> {
    try {
      await this.#d.requireRunning(sandboxId);
    } catch (e) {
      if (e instanceof AirlockError && e.code === ErrorCode.NotFound) this.#bySandbox.delete(sandboxId);
      throw e;
    }
  }

  #defaultOf(sandboxId: string, language: CodeLanguage): CodeContext {
    const existing = this.#bySandbox.get(sandboxId)?.get(`default-${language}`);
    if (existing) return existing;
    return this.#register(sandboxId, { language, cwd: undefined, envs: undefined, user: undefined, isDefault: true });
  }

  async #add(sandboxId: string, spec: ContextSpec): Promise<CodeContext> {
    const c = this.#register(sandboxId, spec);
    try {
      await c.ensure();
    } catch (e) {
      this.#bySandbox.get(sandboxId)?.delete(c.id); // nothing half-created
      throw e;
    }
    return c;
  }

  #register(sandboxId: string, spec: ContextSpec, processes = this.#d.processes): CodeContext {
    let m = this.#bySandbox.get(sandboxId);
    if (!m) this.#bySandbox.set(sandboxId, (m = new Map()));
    if (m.size >= CODE_LIMITS.maxContextsPerSandbox)
      throw new AirlockError(ErrorCode.Capacity, `sandbox ${sandboxId} has ${m.size} code contexts, the most it may have; delete one first`);
    const sid = sandboxId;
    const c = new CodeContext(spec, {
      limits: this.#limits,
      start: async (argv, s, tag) => {
        return processes.start(sid, { argv, env: s.envs, cwd: s.cwd, user: s.user, keepStdin: true, tag, survive: true });
      },
      sandboxGone: () => this.#bySandbox.delete(sid),
      forget: (entry) =>
        void entry
          .waitEnd(10_000)
          .then(() => processes.forget(sid, entry.facts.id))
          .catch(() => {}),
    });
    m.set(c.id, c);
    return c;
  }
}
