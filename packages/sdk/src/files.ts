/**
 * @module files
 * `SandboxFiles`: read, write and list files inside one sandbox. Bytes travel as raw bodies;
 * paths are absolute and resolved by the agent inside the sandbox.
 */
import type { FileEntry, FileList, WriteFileResult } from '@airlock/protocol';
import type { HttpClient } from './http.js';

export interface SandboxFileWriteParams {
  /** Permission bits: `0o644` or the octal string `"644"`. */
  mode?: number | string;
  /** Owner: a name, uid or uid:gid. Default: the sandbox's default user. */
  user?: string;
  signal?: AbortSignal;
}

export interface SandboxFileReadParams {
  signal?: AbortSignal;
}

export class SandboxFiles {
  readonly #http: HttpClient;
  readonly #path: string;

  constructor(http: HttpClient, sandboxId: string) {
    this.#http = http;
    this.#path = `/v1/sandboxes/${encodeURIComponent(sandboxId)}/files`;
  }

  /** Writes atomically, creating missing parent directories. */
  async write(path: string, data: string | Uint8Array, params: SandboxFileWriteParams = {}): Promise<WriteFileResult> {
    const bytes = typeof data === 'string' ? new TextEncoder().encode(data) : data;
    const mode = typeof params.mode === 'number' ? params.mode.toString(8) : params.mode;
    return this.#http.json<WriteFileResult>('PUT', this.#path, {
      query: { path, mode, user: params.user },
      bytes,
      signal: params.signal,
    });
  }

  /** Throws `NotFoundError` for a missing path. */
  async read(path: string, params: SandboxFileReadParams = {}): Promise<Uint8Array> {
    return this.#http.bytes('GET', this.#path, { query: { path }, signal: params.signal });
  }

  /** `read` decoded as UTF-8. */
  async readText(path: string, params: SandboxFileReadParams = {}): Promise<string> {
    return new TextDecoder().decode(await this.read(path, params));
  }

  /** The entries of a directory. */
  async list(path: string, params: SandboxFileReadParams = {}): Promise<FileEntry[]> {
    const answer = await this.#http.json<FileList>('GET', `${this.#path}/list`, { query: { path }, signal: params.signal });
    return answer.entries;
  }
}
