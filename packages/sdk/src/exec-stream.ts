/**
 * @module exec-stream
 * Reads the `application/x-ndjson` answer of `POST /v1/sandboxes/{id}/exec/stream`: splits the
 * byte stream into lines (a line may span chunks; one longer than 4 MiB is an error), decodes
 * each event and its base64 data, and exposes them as an async iterable plus `wait()`.
 */
import type { ExitReason } from '@airlock/protocol';
import { AirlockError, ConnectionError, errorFromBody, InvalidStateError } from './errors.js';

export const MAX_LINE_BYTES = 4 * 1024 * 1024;

/** How a command ended. `exitCode` is null when it was killed by a signal. */
export interface ExecExit {
  exitCode: number | null;
  signal: number | null;
  reason: ExitReason;
  durationMs: number;
}

export type ExecStreamEvent =
  { type: 'start'; pid: number } | { type: 'stdout'; data: Uint8Array } | { type: 'stderr'; data: Uint8Array } | ({ type: 'exit' } & ExecExit);

export interface ExecStreamCallbacks {
  /** Called with each stdout chunk, whether or not the stream is also iterated. */
  onStdout?: ((data: Uint8Array) => void) | undefined;
  onStderr?: ((data: Uint8Array) => void) | undefined;
}

/**
 * Yields the lines of a byte stream, without their `\n` (or `\r\n`). Cancels the stream when the
 * consumer stops early, which closes the connection (and so kills the remote command).
 */
export async function* readLines(stream: ReadableStream<Uint8Array>, maxLineBytes: number = MAX_LINE_BYTES): AsyncGenerator<string> {
  const reader = stream.getReader();
  const decoder = new TextDecoder('utf-8', { fatal: false });
  let pending: Uint8Array[] = [];
  let pendingBytes = 0;
  let done = false;
  const take = (tail: Uint8Array): string => {
    const line = concat([...pending, tail], pendingBytes + tail.length);
    pending = [];
    pendingBytes = 0;
    const end = line.length > 0 && line[line.length - 1] === 0x0d ? line.length - 1 : line.length;
    return decoder.decode(line.subarray(0, end));
  };
  try {
    for (;;) {
      const next = await reader.read();
      if (next.done) {
        done = true;
        break;
      }
      let chunk = next.value;
      for (let nl = chunk.indexOf(0x0a); nl !== -1; nl = chunk.indexOf(0x0a)) {
        if (pendingBytes + nl > maxLineBytes) throw lineTooLong(maxLineBytes);
        yield take(chunk.subarray(0, nl));
        chunk = chunk.subarray(nl + 1);
      }
      if (pendingBytes + chunk.length > maxLineBytes) throw lineTooLong(maxLineBytes);
      if (chunk.length > 0) {
        pending.push(chunk);
        pendingBytes += chunk.length;
      }
    }
    if (pendingBytes > 0) yield take(new Uint8Array(0));
  } finally {
    if (!done) await reader.cancel().catch(() => undefined);
    reader.releaseLock();
  }
}

function lineTooLong(max: number): AirlockError {
  return new AirlockError('payload_too_large', `exec stream line longer than ${max} bytes`);
}

function concat(parts: Uint8Array[], length: number): Uint8Array {
  if (parts.length === 1) return parts[0]!;
  const out = new Uint8Array(length);
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.length;
  }
  return out;
}

export function decodeBase64(data: string): Uint8Array {
  const buf = Buffer.from(data, 'base64');
  return new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength);
}

export function encodeBase64(data: Uint8Array): string {
  return Buffer.from(data.buffer, data.byteOffset, data.byteLength).toString('base64');
}

/**
 * Decodes one NDJSON line into an event. Returns undefined for event types this SDK does not
 * know (a newer server may add some); throws the typed error carried by an `error` event.
 */
export function parseEvent(line: string): ExecStreamEvent | undefined {
  let raw: unknown;
  try {
    raw = JSON.parse(line);
  } catch {
    throw new AirlockError('internal', `exec stream: a line is not JSON: ${line.slice(0, 80)}`);
  }
  const e = (typeof raw === 'object' && raw !== null ? raw : {}) as Record<string, unknown>;
  switch (e['type']) {
    case 'start':
      return { type: 'start', pid: Number(e['pid']) };
    case 'stdout':
    case 'stderr':
      if (typeof e['data'] !== 'string') throw new AirlockError('internal', `exec stream: ${e['type']} without data`);
      return { type: e['type'], data: decodeBase64(e['data']) };
    case 'exit':
      return {
        type: 'exit',
        exitCode: typeof e['exitCode'] === 'number' ? e['exitCode'] : null,
        signal: typeof e['signal'] === 'number' ? e['signal'] : null,
        reason: e['reason'] as ExitReason,
        durationMs: Number(e['durationMs']),
      };
    case 'error':
      throw errorFromBody(undefined, e);
    default:
      return undefined;
  }
}

/**
 * A running command's output. Iterate it once (`for await (const ev of stream)`) or call
 * `wait()`, which drains it (still calling `onStdout`/`onStderr`) and resolves with how the
 * command ended. Breaking out of the iteration closes the connection, which kills the command.
 */
export class ExecStream implements AsyncIterable<ExecStreamEvent> {
  readonly #body: ReadableStream<Uint8Array>;
  readonly #callbacks: ExecStreamCallbacks;
  readonly #mapError: (error: unknown) => unknown;
  readonly #exit: Promise<ExecExit>;
  #settle!: { resolve: (exit: ExecExit) => void; reject: (error: unknown) => void };
  #started = false;

  /** @param mapError turns a failed read into the error to throw (the SDK maps network errors). */
  constructor(body: ReadableStream<Uint8Array>, callbacks: ExecStreamCallbacks = {}, mapError: (error: unknown) => unknown = (e) => e) {
    this.#body = body;
    this.#callbacks = callbacks;
    this.#mapError = mapError;
    this.#exit = new Promise<ExecExit>((resolve, reject) => {
      this.#settle = { resolve, reject };
    });
    // wait() may never be called; its rejection is reported to whoever iterates instead.
    this.#exit.catch(() => undefined);
  }

  [Symbol.asyncIterator](): AsyncIterator<ExecStreamEvent> {
    if (this.#started) throw new InvalidStateError('an ExecStream can be consumed only once');
    this.#started = true;
    return this.#events();
  }

  /** Resolves once the command has ended. Drains the stream unless it is already being iterated. */
  async wait(): Promise<ExecExit> {
    if (!this.#started) {
      for await (const event of this) void event;
    }
    return this.#exit;
  }

  async *#events(): AsyncGenerator<ExecStreamEvent> {
    let exit: ExecExit | undefined;
    try {
      for await (const line of readLines(this.#body)) {
        if (line.trim() === '') continue;
        const event = parseEvent(line);
        if (event === undefined) continue;
        if (event.type === 'stdout') this.#callbacks.onStdout?.(event.data);
        if (event.type === 'stderr') this.#callbacks.onStderr?.(event.data);
        if (event.type === 'exit') {
          const { type: _type, ...rest } = event;
          exit = rest;
          this.#settle.resolve(exit);
        }
        yield event;
        if (exit !== undefined) return;
      }
      throw new ConnectionError('the exec stream ended before the command exited');
    } catch (error) {
      const mapped = this.#mapError(error);
      this.#settle.reject(mapped);
      throw mapped;
    } finally {
      if (exit === undefined) this.#settle.reject(new AirlockError('internal', 'the exec stream was closed before the command exited'));
    }
  }
}
