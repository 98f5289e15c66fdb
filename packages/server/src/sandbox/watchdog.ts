/**
 * @module watchdog
 * Pings every live sandbox's agent on an interval. An agent that misses several in a row (frozen by
 * a SIGSTOP from inside, or starved) marks its sandbox unresponsive: visible in the API, and still
 * destroyable, since destroy never needs the agent. An answer clears the mark.
 */
import type { Logger } from '../log.js';
import type { LiveSandboxes } from './live.js';

export interface WatchdogOptions {
  intervalMs: number;
  maxMissed: number;
  log: Logger;
}

export class Watchdog {
  readonly #live: LiveSandboxes;
  readonly #o: WatchdogOptions;
  #timer: NodeJS.Timeout | undefined;
  #round: Promise<void> | undefined;

  constructor(live: LiveSandboxes, options: WatchdogOptions) {
    this.#live = live;
    this.#o = options;
  }

  start(): void {
    if (this.#o.intervalMs <= 0) return;
    this.#timer = setInterval(() => {
      this.#round ??= this.pingAll().finally(() => (this.#round = undefined));
    }, this.#o.intervalMs);
    this.#timer.unref();
  }

  /** One round: every live sandbox's agent, at once, each with the interval as its deadline. */
  async pingAll(): Promise<void> {
    const timeout = Math.max(1000, Math.min(this.#o.intervalMs, 5000));
    await Promise.all(
      [...this.#live.values()].map(async (live) => {
        if (live.conn.closed) return;
        try {
          await live.conn.ping(timeout);
          if (live.unresponsiveSince !== null) this.#o.log.info({ sandbox: live.id }, 'the agent answers again');
          live.missedPings = 0;
          live.unresponsiveSince = null;
        } catch {
          if (live.conn.closed) return;
          live.missedPings++;
          if (live.missedPings >= this.#o.maxMissed && live.unresponsiveSince === null) {
            live.unresponsiveSince = new Date().toISOString();
            this.#o.log.warn({ sandbox: live.id, missed: live.missedPings }, 'the agent stopped answering pings; marking the sandbox unresponsive');
          }
        }
      }),
    );
  }

  async close(): Promise<void> {
    clearInterval(this.#timer);
    await this.#round;
  }
}
