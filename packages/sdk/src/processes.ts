/**
 * @module processes
 * `SandboxProcesses`: the processes of one sandbox (background commands that outlive every request),
 * and `SandboxPty`: `pty.create({cols, rows})` for an interactive terminal.
 */
import type { OutputEvent, ProcessInfo, ProcessList, PtySize } from '@airlock/protocol';
import { Attachment, type AttachParams, type ProcessExitInfo } from './attach.js';
import { buildExecRequest, type Command, type SandboxExecParams } from './exec-request.js';
import { decodeBase64, readLines } from './exec-stream.js';
import type { HttpClient } from './http.js';

export interface ProcessStartParams extends Omit<SandboxExecParams, 'signal'> {
  /** A name of your own, for listing and finding it. */
  tag?: string;
  /** Run on a pseudo-terminal of this size. */
  pty?: PtySize;
  /** Keep stdin open for `sendStdin` (default true). */
  keepStdin?: boolean;
}

export type ProcessOutput =
  | { type: 'stdout' | 'stderr'; offset: number; data: Uint8Array }
  | { type: 'gap'; from: number; to: number }
  | { type: 'exit'; exitCode: number | null; signal: number | null; reason: string; offset: number };

export class SandboxProcesses {
  readonly #http: HttpClient;
  readonly #sandboxId: string;
  readonly #path: string;

  constructor(http: HttpClient, sandboxId: string) {
    this.#http = http;
    this.#sandboxId = sandboxId;
    this.#path = `/v1/sandboxes/${encodeURIComponent(sandboxId)}/processes`;
  }

  /** Starts a process that keeps running after this call (and after this client) and answers at once. */
  async start(cmd: Command, params: ProcessStartParams = {}): Promise<ProcessInfo> {
    const body: Record<string, unknown> = { ...buildExecRequest(cmd, params) };
    if (params.tag !== undefined) body['tag'] = params.tag;
    if (params.pty !== undefined) body['pty'] = params.pty;
    if (params.keepStdin !== undefined) body['keepStdin'] = params.keepStdin;
    return this.#http.json<ProcessInfo>('POST', this.#path, { json: body });
  }

  async list(params: { tag?: string } = {}): Promise<ProcessInfo[]> {
    return (await this.#http.json<ProcessList>('GET', this.#path, { query: { tag: params.tag } })).processes;
  }

  get(id: string): Promise<ProcessInfo> {
    return this.#http.json<ProcessInfo>('GET', this.#one(id));
  }

  /** Resolves once the process ended (polling the server's wait in steps of `step` seconds). */
  async wait(id: string, params: { step?: number } = {}): Promise<ProcessInfo> {
    for (;;) {
      const timeout = params.step ?? 30;
      const p = await this.#http.json<ProcessInfo>('GET', `${this.#one(id)}/wait`, { query: { timeout: String(timeout) }, extraTimeoutMs: timeout * 1000 });
      if (p.state === 'exited') return p;
    }
  }

  /** Signals the process group (SIGTERM by default). `InvalidStateError` once it has exited. */
  async signal(id: string, signal: string | number = 'SIGTERM'): Promise<ProcessInfo> {
    return this.#http.json<ProcessInfo>('POST', `${this.#one(id)}/signal`, { json: { signal } });
  }

  kill(id: string): Promise<ProcessInfo> {
    return this.signal(id, 'SIGKILL');
  }

  async sendStdin(id: string, data: string | Uint8Array | ReadableStream<Uint8Array>, params: { close?: boolean } = {}): Promise<number> {
    const query = { close: params.close ? 'true' : undefined };
    const opts = data instanceof ReadableStream ? { stream: data } : { bytes: typeof data === 'string' ? new TextEncoder().encode(data) : data };
    return (await this.#http.json<{ bytes: number }>('POST', `${this.#one(id)}/stdin`, { query, ...opts, timeoutMs: null })).bytes;
  }

  closeStdin(id: string): Promise<ProcessInfo> {
    return this.#http.json<ProcessInfo>('POST', `${this.#one(id)}/stdin/close`);
  }

  resize(id: string, size: PtySize): Promise<ProcessInfo> {
    return this.#http.json<ProcessInfo>('POST', `${this.#one(id)}/resize`, { json: size });
  }

  /** Its output from `offset` (default 0), then live until it ends unless `follow: false`. */
  async *output(id: string, params: { offset?: number; follow?: boolean; skipGap?: boolean; signal?: AbortSignal } = {}): AsyncGenerator<ProcessOutput> {
    const query = {
      offset: params.offset === undefined ? undefined : String(params.offset),
      follow: params.follow === false ? 'false' : undefined,
      gap: params.skipGap ? 'skip' : undefined,
    };
    const res = await this.#http.send('GET', `${this.#one(id)}/output`, { query, timeoutMs: null, signal: params.signal });
    for await (const line of readLines(res.body ?? new ReadableStream({ start: (c) => c.close() }))) {
      const ev = JSON.parse(line) as OutputEvent;
      if (ev.type === 'error') throw new Error(`${ev.code}: ${ev.message}`);
      yield ev.type === 'stdout' || ev.type === 'stderr' ? { type: ev.type, offset: ev.offset, data: decodeBase64(ev.data) } : ev;
    }
  }

  /** Attaches over WebSocket: output, stdin, resize, signals; `disconnect()` leaves it running. */
  connect(id: string, params: AttachParams = {}): Promise<Attachment> {
    return Attachment.open(this.#http, this.#sandboxId, id, params);
  }

  /** Forgets an ended process and its output. */
  async forget(id: string): Promise<void> {
    await this.#http.json('DELETE', this.#one(id));
  }

  #one(id: string): string {
    return `${this.#path}/${encodeURIComponent(id)}`;
  }
}

export interface PtyCreateParams extends Omit<ProcessStartParams, 'pty' | 'stdin' | 'keepStdin'>, PtySize {
  /** Default: the user's login shell, `bash` or `sh`. */
  cmd?: Command;
  onData?: (data: Uint8Array) => void;
}

export interface Pty {
  readonly id: string;
  readonly pid: number;
  write(data: string | Uint8Array): void;
  resize(size: PtySize): void;
  onData(cb: (data: Uint8Array) => void): () => void;
  wait(): Promise<ProcessExitInfo>;
  kill(): Promise<void>;
  /** Leaves the terminal running; `sandbox.processes.connect(id)` reattaches. */
  disconnect(): void;
}

export class SandboxPty {
  readonly #procs: SandboxProcesses;

  constructor(procs: SandboxProcesses) {
    this.#procs = procs;
  }

  async create(params: PtyCreateParams): Promise<Pty> {
    const { cols, rows, cmd, onData, ...rest } = params;
    const info = await this.#procs.start(cmd ?? ['/bin/sh', '-c', 'if command -v bash >/dev/null; then exec bash -l; else exec sh -l; fi'], {
      ...rest,
      pty: { cols, rows },
    });
    const a = await this.#procs.connect(info.id, { offset: 0, pace: true, ...(onData ? { onData: (d) => onData(d) } : {}) });
    return {
      id: info.id,
      pid: info.pid,
      write: (d) => a.write(d),
      resize: (size) => a.resize(size),
      onData: (cb) => a.onData((d) => cb(d)),
      wait: () => a.wait(),
      kill: async () => {
        await this.#procs.kill(info.id).catch(() => {});
      },
      disconnect: () => a.disconnect(),
    };
  }
}
