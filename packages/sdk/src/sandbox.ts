/**
 * @module sandbox
 * `Sandbox`: a handle on one sandbox, holding its last known wire info, with exec and files.
 */
import type { ExecResult, Execution, Sandbox as SandboxInfo, SandboxState, SandboxStats } from '@airlock/protocol';
import { SandboxStatsReader } from './observe.js';
import { buildExecRequest, type Command, type SandboxExecBufferedParams, type SandboxExecStreamParams } from './exec-request.js';
import { runCode, SandboxCode, type RunCodeParams } from './code.js';
import { ExecStream } from './exec-stream.js';
import { SandboxFiles } from './files.js';
import type { HttpClient } from './http.js';
import { SandboxNetwork, SandboxPorts } from './network.js';
import { SandboxProcesses, SandboxPty } from './processes.js';

export class Sandbox {
  readonly id: string;
  readonly files: SandboxFiles;
  readonly network: SandboxNetwork;
  readonly ports: SandboxPorts;
  readonly processes: SandboxProcesses;
  readonly pty: SandboxPty;
  /** Code contexts: stateful interpreters (see runCode). */
  readonly code: SandboxCode;
  readonly #http: HttpClient;
  readonly #stats: SandboxStatsReader;
  #info: SandboxInfo;

  constructor(http: HttpClient, info: SandboxInfo) {
    this.#http = http;
    this.#info = info;
    this.id = info.id;
    this.files = new SandboxFiles(http, info.id);
    this.network = new SandboxNetwork(http, info.id);
    this.ports = new SandboxPorts(http, info.id, this.network);
    this.processes = new SandboxProcesses(http, info.id);
    this.pty = new SandboxPty(this.processes);
    this.#stats = new SandboxStatsReader(http, info.id);
    this.code = new SandboxCode(http, info.id);
  }

  /** CPU, memory, pids, disk and network use now, as the host measures it (a running sandbox only). */
  stats(params: { signal?: AbortSignal } = {}): Promise<SandboxStats> {
    return this.#stats.read(params);
  }

  /** A stats sample every `intervalSeconds` (default 1) until the sandbox stops or `signal` aborts. */
  statsStream(params: { intervalSeconds?: number; signal?: AbortSignal } = {}): AsyncGenerator<SandboxStats> {
    return this.#stats.stream(params);
  }

  /**
   * Runs a cell in a stateful code context (python by default; javascript, bash), calling back
   * with output and results as they come, and resolves with its Execution (results, logs, error,
   * executionCount). A cell that fails resolves with `error` set; the call throws only for bad input
   * (unknown context: NotFoundError, a cell over the size limit, a busy context with onBusy: 'reject').
   */
  runCode(code: string, params: RunCodeParams = {}): Promise<Execution> {
    return runCode(this.#http, this.id, code, params);
  }

  /** The wire description as of the last call that returned it. */
  get info(): SandboxInfo {
    return this.#info;
  }

  get state(): SandboxState {
    return this.#info.state;
  }

  get #path(): string {
    return `/v1/sandboxes/${encodeURIComponent(this.id)}`;
  }

  /** Fetches the current info from the server. */
  async refresh(params: { signal?: AbortSignal } = {}): Promise<this> {
    this.#info = await this.#http.json<SandboxInfo>('GET', this.#path, { signal: params.signal });
    return this;
  }

  /** Destroys the sandbox; destroying it again is not an error. */
  async destroy(params: { signal?: AbortSignal } = {}): Promise<void> {
    this.#info = await this.#http.json<SandboxInfo>('DELETE', this.#path, { signal: params.signal });
  }

  /**
   * Runs a command and answers once it has ended, with its output buffered. A command that cannot
   * start throws `ExecFailedError`; one that starts and fails resolves with its exit code.
   * `cmd` null runs the image's own Entrypoint + Cmd.
   */
  async exec(cmd: Command | null, params: SandboxExecBufferedParams = {}): Promise<ExecResult> {
    return this.#http.json<ExecResult>('POST', `${this.#path}/exec`, {
      json: buildExecRequest(cmd, params),
      signal: params.signal,
      extraTimeoutMs: (params.timeout ?? 0) * 1000,
    });
  }

  /**
   * Starts a command and answers as soon as the server has accepted it; its output then arrives
   * through the returned `ExecStream`. Errors found before the start (not found, exec failed)
   * throw here. `cmd` null runs the image's own Entrypoint + Cmd.
   */
  async execStream(cmd: Command | null, params: SandboxExecStreamParams = {}): Promise<ExecStream> {
    const what = `POST ${this.#path}/exec/stream`;
    const response = await this.#http.send('POST', `${this.#path}/exec/stream`, {
      json: buildExecRequest(cmd, params),
      signal: params.signal,
      timeoutMs: null,
    });
    const body = response.body ?? new ReadableStream<Uint8Array>({ start: (c) => c.close() });
    return new ExecStream(body, { onStdout: params.onStdout, onStderr: params.onStderr }, (error) => this.#http.networkError(error, what, params.signal));
  }
}
