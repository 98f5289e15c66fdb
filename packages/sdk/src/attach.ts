/**
 * @module attach
 * A WebSocket attach to a process (the server's api/ws.ts): output as it comes, stdin, resize,
 * signals, the exit. Output is acknowledged as the `onData` callbacks return, so the server sends
 * at most about 1 MiB ahead of what this client took. In Node the `ws` package is used (with the
 * API key as a header); in a browser the global WebSocket, with a ticket fetched first.
 */
import type { AttachServerMessage, PtySize } from '@airlock/protocol';
import { ATTACH_LIMITS } from '@airlock/protocol/attach-limits';
import { AirlockError, ConnectionError } from './errors.js';
import type { HttpClient } from './http.js';

export interface AttachParams {
  /** Output offset to start from (default: live from now on). */
  offset?: number;
  /** Hold the program to this client's pace, as a real terminal does. */
  pace?: boolean;
  /** Start from the oldest kept byte if the offset fell out of the journal (default: an error). */
  skipGap?: boolean;
  /** A terminal's screen as it is now first (redrawn by escape sequences), then live output. */
  snapshot?: boolean;
  /** Output as it comes; a listener added later with `onData()` still gets everything from `offset`. */
  onData?: (data: Uint8Array, stream: 'stdout' | 'stderr') => void;
}

export interface ProcessExitInfo {
  exitCode: number | null;
  signal: number | null;
  reason: string;
}

interface Frame {
  data: Uint8Array;
  stream: 'stdout' | 'stderr';
  /** A terminal's screen (the frame after a `snapshot` message), not output. */
  snapshot: boolean;
}

interface SocketLike {
  binaryType: string;
  readyState: number;
  send(data: string | Uint8Array): void;
  close(code?: number, reason?: string): void;
  onopen: ((ev: unknown) => void) | null;
  onmessage: ((ev: { data: unknown }) => void) | null;
  onclose: ((ev: { code: number; reason: string }) => void) | null;
  onerror: ((ev: unknown) => void) | null;
}

export class Attachment {
  readonly #ws: SocketLike;
  readonly #onData: Set<(data: Uint8Array, stream: 'stdout' | 'stderr') => void> = new Set();
  #offset = 0;
  #ackedAt = 0;
  #exit: ProcessExitInfo | undefined;
  #snapshotNext = false;
  /**
   * Output that came before any onData listener (the socket opens, and output flows, before the
   * caller of `connect` can add one). Held unacknowledged, so it is bounded by the server's window.
   */
  readonly #held: Frame[] = [];
  /** `wait()` was called with no listener: output is let go as it comes. */
  #unwanted = false;
  #ended: Promise<ProcessExitInfo>;
  /** What the server said when attaching: the process, its terminal size, where output starts. */
  info: Extract<AttachServerMessage, { type: 'attached' }> | undefined;
  closeCode: number | undefined;

  private constructor(ws: SocketLike, params: AttachParams) {
    this.#ws = ws;
    if (params.onData) this.#onData.add(params.onData);
    ws.binaryType = 'arraybuffer';
    this.#ended = new Promise((resolve, reject) => {
      ws.onmessage = (ev) => {
        if (typeof ev.data === 'string') return this.#control(JSON.parse(ev.data) as AttachServerMessage);
        const bytes = new Uint8Array(ev.data as ArrayBuffer);
        const frame: Frame = { data: bytes.subarray(1), stream: bytes[0] === 1 ? 'stderr' : 'stdout', snapshot: this.#snapshotNext };
        this.#snapshotNext = false;
        if (this.#held.length > 0 || (this.#onData.size === 0 && !this.#unwanted)) this.#held.push(frame);
        else this.#deliver(frame);
      };
      ws.onclose = (ev) => {
        this.closeCode = ev.code;
        if (this.#exit) resolve(this.#exit);
        else reject(new ConnectionError(`the attach closed (${ev.code}${ev.reason ? `: ${ev.reason}` : ''}) before the process ended`));
      };
    });
    this.#ended.catch(() => {});
  }

  static async open(http: HttpClient, sandboxId: string, processId: string, params: AttachParams = {}): Promise<Attachment> {
    const base = `/v1/sandboxes/${encodeURIComponent(sandboxId)}/processes/${encodeURIComponent(processId)}`;
    const q = new URLSearchParams();
    if (params.offset !== undefined) q.set('offset', String(params.offset));
    if (params.pace) q.set('pace', 'true');
    if (params.skipGap) q.set('gap', 'skip');
    if (params.snapshot) q.set('snapshot', 'true');
    let ws: SocketLike;
    const Global = (globalThis as { WebSocket?: new (url: string) => SocketLike }).WebSocket;
    if (Global !== undefined && typeof process === 'undefined') {
      const t = await http.json<{ url: string }>('POST', `${base}/ticket`);
      ws = new Global(`${t.url}${q.size ? `&${q}` : ''}`);
    } else {
      const { default: WS } = await import('ws');
      const url = `${http.baseUrl.replace(/^http/, 'ws')}${base}/attach${q.size ? `?${q}` : ''}`;
      ws = new WS(url, { headers: { authorization: `Bearer ${http.apiKey}` } }) as unknown as SocketLike;
    }
    const a = new Attachment(ws, params);
    await new Promise<void>((resolve, reject) => {
      ws.onopen = () => resolve();
      ws.onerror = (e) => reject(new ConnectionError(`cannot attach to process ${processId}: ${(e as { message?: string }).message ?? 'WebSocket error'}`));
      (ws as unknown as { on?: (ev: string, cb: (req: unknown, res: { statusCode: number }) => void) => void }).on?.('unexpected-response', (_req, res) =>
        reject(
          new AirlockError(
            res.statusCode === 404 ? 'not_found' : res.statusCode === 401 ? 'unauthenticated' : res.statusCode === 410 ? 'offset_gone' : 'invalid_state',
            `attach refused with HTTP ${res.statusCode}`,
            { status: res.statusCode },
          ),
        ),
      );
    });
    return a;
  }

  /**
   * Adds a listener. Output that came before the first one was held for it, and is delivered to
   * it (and to any other added in the same tick) first, in order.
   */
  onData(cb: (data: Uint8Array, stream: 'stdout' | 'stderr') => void): () => void {
    this.#onData.add(cb);
    if (this.#held.length > 0) queueMicrotask(() => this.#release());
    return () => this.#onData.delete(cb);
  }

  write(data: string | Uint8Array): void {
    this.#ws.send(typeof data === 'string' ? new TextEncoder().encode(data) : data);
  }

  resize(size: PtySize): void {
    this.#send({ type: 'resize', cols: size.cols, rows: size.rows });
  }

  signal(signal: string | number): void {
    this.#send({ type: 'signal', signal });
  }

  closeStdin(): void {
    this.#send({ type: 'close_stdin' });
  }

  /**
   * Resolves with how the process ended; rejects if the attach closed before. Waiting with no
   * `onData` listener says the output is not wanted: what was held is let go (acknowledged), and so
   * is what comes after, so the process's exit is not held up behind it.
   */
  wait(): Promise<ProcessExitInfo> {
    if (this.#onData.size === 0) {
      this.#unwanted = true;
      this.#release();
    }
    return this.#ended;
  }

  /** Output bytes seen so far, as an offset to attach from again. */
  get offset(): number {
    return this.#offset;
  }

  /** Leaves the process running. */
  disconnect(): void {
    this.#ws.close(1000, 'client detached');
  }

  #release(): void {
    for (const f of this.#held.splice(0)) this.#deliver(f);
  }

  #deliver(f: Frame): void {
    for (const cb of this.#onData) cb(f.data, f.stream);
    if (f.snapshot) return; // the screen, not output: offsets do not count it
    this.#offset += f.data.length;
    if (this.#offset - this.#ackedAt >= ATTACH_LIMITS.ackEvery / 4) this.#ack();
  }

  #ack(): void {
    this.#ackedAt = this.#offset;
    this.#send({ type: 'ack', offset: this.#offset });
  }

  #send(msg: unknown): void {
    if (this.#ws.readyState === 1) this.#ws.send(JSON.stringify(msg));
  }

  #control(msg: AttachServerMessage): void {
    if (msg.type === 'attached') {
      this.info = msg;
      this.#offset = msg.offset;
      this.#ackedAt = msg.offset;
    } else if (msg.type === 'snapshot') {
      this.#snapshotNext = true;
      this.#offset = msg.offset;
      this.#ackedAt = msg.offset;
    } else if (msg.type === 'exit') this.#exit = { exitCode: msg.exitCode, signal: msg.signal, reason: msg.reason };
  }
}
