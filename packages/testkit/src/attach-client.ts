/**
 * @module attach-client
 * Test support: a WebSocket attach to a process (api/ws.ts) that collects output by offset, acks
 * like a terminal would, and can be made to read slowly.
 */
import WebSocket from 'ws';
import type { Api } from './harness.js';

export class Attach {
  readonly ws: WebSocket;
  output = Buffer.alloc(0);
  readonly control: any[] = [];
  offset = 0;
  closeCode: number | undefined;
  autoAck: boolean;
  /** With snapshot=true: the screen frame, kept apart from the output. */
  screen: Buffer | undefined;
  #snapshotNext = false;
  #waiters: (() => void)[] = [];

  private constructor(ws: WebSocket, autoAck: boolean) {
    this.ws = ws;
    this.autoAck = autoAck;
    ws.on('message', (data: Buffer, binary: boolean) => {
      if (binary && this.#snapshotNext) {
        this.#snapshotNext = false;
        this.screen = data.subarray(1);
      } else if (binary) {
        this.output = Buffer.concat([this.output, data.subarray(1)]);
        this.offset += data.length - 1;
        if (this.autoAck) this.ack();
      } else {
        const msg = JSON.parse(data.toString());
        if (msg.type === 'attached') this.offset = msg.offset;
        if (msg.type === 'snapshot') this.#snapshotNext = true;
        this.control.push(msg);
      }
      this.#wake();
    });
    ws.on('close', (code) => {
      this.closeCode = code;
      this.#wake();
    });
  }

  static open(
    api: Api,
    sandbox: string,
    pid: string,
    query = '',
    opts: { autoAck?: boolean; headers?: Record<string, string>; url?: string } = {},
  ): Promise<Attach> {
    const url = opts.url ?? `${api.url.replace(/^http/, 'ws')}/v1/sandboxes/${sandbox}/processes/${pid}/attach${query}`;
    const ws = new WebSocket(url, { headers: opts.headers ?? { authorization: `Bearer ${api.key}` } });
    const a = new Attach(ws, opts.autoAck ?? true);
    return new Promise((resolve, reject) => {
      ws.once('open', () => resolve(a));
      ws.once('unexpected-response', (_req, res) => reject(Object.assign(new Error(`upgrade refused: ${res.statusCode}`), { status: res.statusCode })));
      ws.once('error', reject);
    });
  }

  ack(): void {
    if (this.ws.readyState === WebSocket.OPEN) this.ws.send(JSON.stringify({ type: 'ack', offset: this.offset }));
  }

  send(data: string | Buffer): void {
    this.ws.send(typeof data === 'string' ? Buffer.from(data) : data, { binary: true });
  }

  control_(msg: unknown): void {
    this.ws.send(JSON.stringify(msg));
  }

  text(): string {
    return this.output.toString();
  }

  /** Resolves once `probe` holds (checked at every message); the deadline turns a hang into a failure. */
  async until(what: string, probe: () => boolean, ms = 30_000): Promise<void> {
    const end = Date.now() + ms;
    while (!probe()) {
      if (Date.now() > end) throw new Error(`gave up waiting for ${what}; output so far: ${JSON.stringify(this.text().slice(-500))}`);
      await new Promise<void>((r) => {
        this.#waiters.push(r);
        setTimeout(r, 200);
      });
    }
  }

  #wake(): void {
    for (const w of this.#waiters.splice(0)) w();
  }
}
