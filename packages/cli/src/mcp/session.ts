/**
 * @module mcp/session
 * The sandboxes one MCP session created. When the session ends (the client closed stdio, the HTTP
 * session was deleted or timed out, the process is stopped), each is destroyed unless it was created
 * with `keep` or the server was started with --keep.
 */
import type { Airlock } from '@airlock/sdk';

export class McpSession {
  readonly #client: Airlock;
  readonly #keepAll: boolean;
  readonly #owned = new Map<string, { keep: boolean }>();
  #closed = false;

  constructor(client: Airlock, keepAll: boolean) {
    this.#client = client;
    this.#keepAll = keepAll;
  }

  get client(): Airlock {
    return this.#client;
  }

  created(id: string, keep: boolean): void {
    this.#owned.set(id, { keep });
  }

  forget(id: string): void {
    this.#owned.delete(id);
  }

  owned(): string[] {
    return [...this.#owned.keys()];
  }

  /** Destroys what the session made and may not keep; returns the ids destroyed. */
  async close(): Promise<string[]> {
    if (this.#closed) return [];
    this.#closed = true;
    const doomed = [...this.#owned].filter(([, o]) => !o.keep && !this.#keepAll).map(([id]) => id);
    await Promise.allSettled(doomed.map(async (id) => (await this.#client.sandboxes.get(id)).destroy()));
    this.#owned.clear();
    return doomed;
  }
}
