/**
 * @module credit
 * The host's side of per-operation flow control (PROTOCOL.md, CREDIT): counts bytes received but not
 * yet taken by the consumer, says when a batch of taken bytes should be granted back, and flags an
 * agent that sent far more than it was ever allowed.
 */
import { INITIAL_CREDIT } from '@airlock/agent';

/** Grants are batched: a CREDIT frame per 32 KiB taken, not per chunk. */
const GRANT_BATCH = 32 * 1024;
/** A well-behaved agent has at most the window in flight; anything far above it is hostile. */
const VIOLATION_BYTES = 4 * INITIAL_CREDIT;

export class CreditLedger {
  #unread = 0;
  #ungranted = 0;

  /** Bytes arrived; returns an error message if the agent has overrun its credit. */
  received(bytes: number): string | undefined {
    this.#unread += bytes;
    return this.#unread > VIOLATION_BYTES ? `agent sent ${this.#unread} bytes beyond its flow-control credit` : undefined;
  }

  /** The consumer took `bytes`; returns how much to grant now (0: keep batching). */
  taken(bytes: number): number {
    this.#unread -= bytes;
    this.#ungranted += bytes;
    if (this.#ungranted < GRANT_BATCH) return 0;
    const grant = this.#ungranted;
    this.#ungranted = 0;
    return grant;
  }
}
