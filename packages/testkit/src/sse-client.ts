/**
 * @module sse-client
 * A small Server-Sent Events reader for tests: parses `id`, `event`, `data` fields and comment
 * lines strictly, so a test that reads the stream also checks its framing.
 */
export interface SseEvent {
  id: string | undefined;
  event: string | undefined;
  data: string;
}

export class SseReader {
  readonly events: SseEvent[] = [];
  readonly comments: string[] = [];
  readonly #ctl = new AbortController();
  #buf = '';
  #done: Promise<void> | undefined;
  status = 0;
  contentType = '';

  async open(url: string, headers: Record<string, string>): Promise<this> {
    const res = await fetch(url, { headers, signal: this.#ctl.signal });
    this.status = res.status;
    this.contentType = res.headers.get('content-type') ?? '';
    if (res.status !== 200 || !res.body) return this;
    const reader = res.body.getReader();
    this.#done = (async () => {
      const dec = new TextDecoder();
      try {
        for (;;) {
          const { value, done } = await reader.read();
          if (done) return;
          this.#buf += dec.decode(value, { stream: true });
          this.#parse();
        }
      } catch {
        // aborted
      }
    })();
    return this;
  }

  #parse(): void {
    for (;;) {
      const end = this.#buf.indexOf('\n\n');
      if (end < 0) return;
      const block = this.#buf.slice(0, end);
      this.#buf = this.#buf.slice(end + 2);
      const e: SseEvent = { id: undefined, event: undefined, data: '' };
      let isEvent = false;
      for (const line of block.split('\n')) {
        if (line.startsWith(':')) this.comments.push(line.slice(1).trim());
        else {
          const m = /^(id|event|data|retry): ?(.*)$/.exec(line);
          if (!m) throw new Error(`not an SSE line: ${line}`);
          if (m[1] === 'retry') continue;
          isEvent = true;
          if (m[1] === 'data') e.data += m[2];
          else e[m[1] as 'id' | 'event'] = m[2];
        }
      }
      if (isEvent) this.events.push(e);
    }
  }

  async waitFor(pred: (events: SseEvent[]) => boolean, ms = 60_000): Promise<void> {
    const end = Date.now() + ms;
    while (!pred(this.events)) {
      if (Date.now() > end) throw new Error(`timed out; got ${this.events.map((e) => e.event).join(', ')}`);
      await new Promise((r) => setTimeout(r, 25));
    }
  }

  async close(): Promise<void> {
    this.#ctl.abort();
    await this.#done;
  }
}
