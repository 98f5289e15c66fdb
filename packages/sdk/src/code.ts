/**
 * @module code
 * The code interpreter of a sandbox: `sandbox.runCode(code, { language, context, onStdout,
 * onStderr, onResult, timeoutMs })` streams a cell's events (NDJSON) to the callbacks and resolves
 * with its `Execution` (results, logs, error, executionCount), as E2B's `runCode` does; and
 * `sandbox.code` manages contexts (create, list, get, interrupt, restart, delete).
 */
import type { CodeContextInfo, CodeError, CodeEvent, CodeLanguage, CodeResult, Execution } from '@airlock/protocol';
import { AirlockError } from './errors.js';
import { readLines } from './exec-stream.js';
import type { HttpClient } from './http.js';

export type { CodeContextInfo, CodeError, CodeLanguage, CodeResult, Execution };

export interface RunCodeParams {
  /** Without `context`: the default context of this language (default python). */
  language?: CodeLanguage;
  /** A context id, or a context from `code.createContext()`. */
  context?: string | { id: string };
  onStdout?: (text: string) => void;
  onStderr?: (text: string) => void;
  onResult?: (result: CodeResult) => void;
  onError?: (error: CodeError) => void;
  /** The cell's own timeout: then it is interrupted (and killed, with the context restarted, if it does not stop). */
  timeoutMs?: number;
  /** While another cell runs in the context: wait (default) or fail with InvalidStateError. */
  onBusy?: 'wait' | 'reject';
  figureFormats?: ('png' | 'svg')[];
  maxOutputBytes?: number;
  signal?: AbortSignal;
}

export interface CreateContextParams {
  language?: CodeLanguage;
  cwd?: string;
  envs?: Record<string, string>;
  user?: string;
  /** Python: modules imported before the context is ready, so its first cell does not pay for them. */
  preload?: string[];
  signal?: AbortSignal;
}

/** Runs a cell through the streamed API, calling back as events come; resolves with the Execution. */
export async function runCode(http: HttpClient, sandboxId: string, code: string, params: RunCodeParams = {}): Promise<Execution> {
  const context = typeof params.context === 'string' ? params.context : params.context?.id;
  const res = await http.send('POST', `/v1/sandboxes/${encodeURIComponent(sandboxId)}/code/run`, {
    json: {
      code,
      ...(params.language ? { language: params.language } : {}),
      ...(context ? { context } : {}),
      ...(params.timeoutMs !== undefined ? { timeoutMs: params.timeoutMs } : {}),
      ...(params.onBusy ? { onBusy: params.onBusy } : {}),
      ...(params.figureFormats ? { figureFormats: params.figureFormats } : {}),
      ...(params.maxOutputBytes !== undefined ? { maxOutputBytes: params.maxOutputBytes } : {}),
    },
    accept: 'application/x-ndjson',
    signal: params.signal,
    timeoutMs: null,
  });
  if (!res.body) throw new AirlockError('internal', 'the code run answered without a body');
  const ex: Execution = {
    results: [],
    logs: { stdout: [], stderr: [] },
    error: null,
    executionCount: null,
    context: context ?? '',
    durationMs: 0,
    stdoutTruncated: false,
    stderrTruncated: false,
    resultsDropped: 0,
  };
  let ended = false;
  // A result line holds at most a few images of the server's result limit.
  for await (const line of readLines(res.body, 64 * 1024 * 1024)) {
    if (line === '') continue;
    const ev = JSON.parse(line) as CodeEvent;
    switch (ev.type) {
      case 'start':
        ex.context = ev.context;
        break;
      case 'stdout':
        ex.logs.stdout.push(ev.text);
        params.onStdout?.(ev.text);
        break;
      case 'stderr':
        ex.logs.stderr.push(ev.text);
        params.onStderr?.(ev.text);
        break;
      case 'result': {
        const { type: _t, ...result } = ev;
        ex.results.push(result);
        params.onResult?.(result);
        break;
      }
      case 'error': {
        const { type: _t, ...error } = ev;
        ex.error = error;
        params.onError?.(error);
        break;
      }
      case 'end':
        ended = true;
        Object.assign(ex, {
          executionCount: ev.executionCount,
          durationMs: ev.durationMs,
          stdoutTruncated: ev.stdoutTruncated,
          stderrTruncated: ev.stderrTruncated,
          resultsDropped: ev.resultsDropped,
        });
        break;
    }
  }
  if (!ended) throw new AirlockError('internal', 'the code run ended without its end event (the connection was cut)');
  return ex;
}

/** `sandbox.code`: the sandbox's code contexts. */
export class SandboxCode {
  readonly #http: HttpClient;
  readonly #id: string;

  constructor(http: HttpClient, sandboxId: string) {
    this.#http = http;
    this.#id = sandboxId;
  }

  get #base(): string {
    return `/v1/sandboxes/${encodeURIComponent(this.#id)}/code/contexts`;
  }

  #one(context: string | { id: string }): string {
    return `${this.#base}/${encodeURIComponent(typeof context === 'string' ? context : context.id)}`;
  }

  run(code: string, params: RunCodeParams = {}): Promise<Execution> {
    return runCode(this.#http, this.#id, code, params);
  }

  /** A new context; its interpreter runs when this resolves. */
  createContext(params: CreateContextParams = {}): Promise<CodeContextInfo> {
    const { signal, ...body } = params;
    return this.#http.json<CodeContextInfo>('POST', this.#base, { json: body, signal });
  }

  async listContexts(params: { signal?: AbortSignal } = {}): Promise<CodeContextInfo[]> {
    return (await this.#http.json<{ contexts: CodeContextInfo[] }>('GET', this.#base, { signal: params.signal })).contexts;
  }

  getContext(context: string | { id: string }): Promise<CodeContextInfo> {
    return this.#http.json<CodeContextInfo>('GET', this.#one(context));
  }

  /** A KeyboardInterrupt in the running cell (Python); the context keeps its state. */
  interrupt(context: string | { id: string }): Promise<CodeContextInfo> {
    return this.#http.json<CodeContextInfo>('POST', `${this.#one(context)}/interrupt`);
  }

  /** Fresh state: the interpreter is started again. */
  restartContext(context: string | { id: string }): Promise<CodeContextInfo> {
    return this.#http.json<CodeContextInfo>('POST', `${this.#one(context)}/restart`);
  }

  async deleteContext(context: string | { id: string }): Promise<void> {
    await this.#http.json('DELETE', this.#one(context));
  }
}
