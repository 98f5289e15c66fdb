/**
 * @module files
 * `SandboxFiles`: read, write and list files inside one sandbox. Bytes travel as raw bodies;
 * paths are absolute and resolved by the agent inside the sandbox.
 */
import type { FileEntry, FileList, FileStat, WatchEventWire, WriteFileResult } from '@airlock/protocol';
import { readLines } from './exec-stream.js';
import type { HttpClient } from './http.js';

type As = { user?: string };
const octal = (m: number | string | undefined) => (typeof m === 'number' ? m.toString(8) : m);

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

  /** The entries of a directory; with `depth` > 1 also those below it, named `sub/file`. */
  async list(path: string, params: SandboxFileReadParams & As & { depth?: number } = {}): Promise<FileEntry[]> {
    const answer = await this.#http.json<FileList>('GET', `${this.#path}/list`, {
      query: { path, user: params.user, depth: params.depth === undefined ? undefined : String(params.depth) },
      signal: params.signal,
    });
    return answer.entries;
  }

  stat(path: string, params: As & { follow?: boolean } = {}): Promise<FileStat> {
    return this.#http.json<FileStat>('GET', `${this.#path}/stat`, {
      query: { path, user: params.user, follow: params.follow === false ? 'false' : undefined },
    });
  }

  async exists(path: string, params: As = {}): Promise<boolean> {
    return (await this.#http.json<{ exists: boolean }>('GET', `${this.#path}/exists`, { query: { path, user: params.user } })).exists;
  }

  /** mkdir -p (parents: false for a plain mkdir). */
  async mkdir(path: string, params: As & { mode?: number | string; parents?: boolean } = {}): Promise<void> {
    await this.#http.json('POST', `${this.#path}/mkdir`, { json: { path, mode: octal(params.mode), parents: params.parents, user: params.user } });
  }

  /** Removes a file, symlink or empty directory; a whole tree with `recursive`. */
  async remove(path: string, params: As & { recursive?: boolean } = {}): Promise<void> {
    await this.#http.json('DELETE', this.#path, { query: { path, recursive: params.recursive ? 'true' : undefined, user: params.user } });
  }

  async rename(from: string, to: string, params: As & { overwrite?: boolean } = {}): Promise<void> {
    await this.#http.json('POST', `${this.#path}/rename`, { json: { from, to, overwrite: params.overwrite, user: params.user } });
  }

  async chmod(path: string, mode: number | string, params: As = {}): Promise<void> {
    await this.#http.json('POST', `${this.#path}/chmod`, { json: { path, mode: octal(mode), user: params.user } });
  }

  /** Several files in one call (bounded by the server's config). */
  async writeMany(files: { path: string; data: string | Uint8Array; mode?: number | string }[], params: As = {}): Promise<{ path: string; bytes: number }[]> {
    const body = files.map((f) => ({
      path: f.path,
      ...(typeof f.data === 'string' ? { content: f.data } : { content: Buffer.from(f.data).toString('base64'), encoding: 'base64' }),
      ...(f.mode !== undefined ? { mode: octal(f.mode) } : {}),
    }));
    return (await this.#http.json<{ files: { path: string; bytes: number }[] }>('POST', `${this.#path}/batch`, { json: { files: body, user: params.user } }))
      .files;
  }

  /** Streams a file of any size in (memory stays flat on both sides). */
  upload(path: string, data: ReadableStream<Uint8Array>, params: As & { mode?: number | string; signal?: AbortSignal } = {}): Promise<WriteFileResult> {
    return this.#http.json<WriteFileResult>('PUT', this.#path, {
      query: { path, mode: octal(params.mode), user: params.user },
      stream: data,
      signal: params.signal,
      timeoutMs: null,
    });
  }

  /** Streams a file of any size out. */
  async download(path: string, params: As & { signal?: AbortSignal } = {}): Promise<ReadableStream<Uint8Array>> {
    const res = await this.#http.send('GET', this.#path, { query: { path, user: params.user }, signal: params.signal, timeoutMs: null });
    return res.body ?? new ReadableStream({ start: (c) => c.close() });
  }

  /** A directory as a tar stream. */
  async downloadDir(path: string, params: As & { signal?: AbortSignal } = {}): Promise<ReadableStream<Uint8Array>> {
    const res = await this.#http.send('GET', `${this.#path}/archive`, { query: { path, user: params.user }, signal: params.signal, timeoutMs: null });
    return res.body ?? new ReadableStream({ start: (c) => c.close() });
  }

  /** Unpacks a tar stream into a directory (made if missing). */
  uploadDir(
    path: string,
    tar: ReadableStream<Uint8Array>,
    params: As & { signal?: AbortSignal } = {},
  ): Promise<{ path: string; entries: number; bytes: number }> {
    return this.#http.json('PUT', `${this.#path}/archive`, {
      query: { path, user: params.user },
      stream: tar,
      contentType: 'application/x-tar',
      signal: params.signal,
      timeoutMs: null,
    });
  }

  /** Watches a path (recursively on request); resolves once the watch is in place. Ends when `signal` aborts. */
  async watch(path: string, params: As & { recursive?: boolean; signal?: AbortSignal } = {}): Promise<AsyncGenerator<WatchEventWire>> {
    const res = await this.#http.send('GET', `${this.#path}/watch`, {
      query: { path, user: params.user, recursive: params.recursive ? 'true' : undefined },
      signal: params.signal,
      timeoutMs: null,
    });
    const lines = readLines(res.body ?? new ReadableStream({ start: (c) => c.close() }));
    const first = await lines.next();
    if (first.done) throw new Error('the watch ended before it was in place');
    return (async function* () {
      for await (const line of lines) {
        const ev = JSON.parse(line) as WatchEventWire;
        if (ev.type === 'error') throw new Error(`${ev.code}: ${ev.message}`);
        yield ev;
      }
    })();
  }
}
