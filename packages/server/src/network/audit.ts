/**
 * @module audit
 * A sandbox's egress audit: the last N decisions (DNS questions, connections), oldest dropped
 * first, numbered so that a reader sees a gap when it fell behind.
 */
import { NETWORK_LIMITS, type NetworkEvent } from '@airlock/protocol';

export type AuditInput = Omit<NetworkEvent, 'seq' | 'time'>;

export class AuditRing {
  readonly #events: NetworkEvent[] = [];
  #next = 0;

  constructor(
    readonly capacity: number = NETWORK_LIMITS.auditEvents,
    /** Told every decision (the server's verdict counters); never a name or an address of it. */
    private readonly onPush?: (e: AuditInput) => void,
  ) {}

  push(e: AuditInput): void {
    this.onPush?.(e);
    this.#events.push({ seq: this.#next++, time: new Date().toISOString(), ...e });
    if (this.#events.length > this.capacity) this.#events.shift();
  }

  /** Events with seq >= `since`, and how many before them are no longer kept. */
  list(since = 0): { events: NetworkEvent[]; dropped: number } {
    const first = this.#events[0]?.seq ?? this.#next;
    return { events: this.#events.filter((e) => e.seq >= since), dropped: first };
  }
}
