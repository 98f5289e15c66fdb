/**
 * @module tickets
 * Short-lived, single-use tickets for the WebSocket attach: a browser cannot set an Authorization
 * header on a WebSocket, so an authenticated POST hands out a ticket bound to one sandbox's process,
 * and the upgrade presents it in the query. Tickets live in memory only (a restart voids them),
 * expire after `ttlMs`, and are bounded in number. A ticket carries the principal that asked for
 * it (its project, role and revocation signal), so the attach acts for that key and ends with it.
 */
import { randomBytes, timingSafeEqual } from 'node:crypto';
import type { Principal } from '../auth/principals.js';

interface Ticket {
  sandbox: string;
  process: string;
  expiresAt: number;
  principal: Principal;
}

const MAX_TICKETS = 10_000;

export class Tickets {
  readonly #ttlMs: number;
  readonly #live = new Map<string, Ticket>();

  constructor(ttlMs: number) {
    this.#ttlMs = ttlMs;
  }

  issue(sandbox: string, process: string, principal: Principal): { ticket: string; expiresAt: number } {
    this.#prune();
    if (this.#live.size >= MAX_TICKETS) this.#live.delete(this.#live.keys().next().value!);
    const ticket = randomBytes(24).toString('base64url');
    const expiresAt = Date.now() + this.#ttlMs;
    this.#live.set(ticket, { sandbox, process, expiresAt, principal });
    return { ticket, expiresAt };
  }

  /** Takes the ticket (it cannot be used twice); its principal if it was valid for this process and its key still is. */
  redeem(ticket: string, sandbox: string, process: string): Principal | undefined {
    const t = this.#live.get(ticket);
    if (!t) return undefined;
    this.#live.delete(ticket);
    const valid = t.expiresAt > Date.now() && same(t.sandbox, sandbox) && same(t.process, process) && !t.principal.signal.aborted;
    return valid ? t.principal : undefined;
  }

  #prune(): void {
    const now = Date.now();
    for (const [k, t] of this.#live) if (t.expiresAt <= now) this.#live.delete(k);
  }
}

function same(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}
