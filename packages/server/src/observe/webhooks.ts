/**
 * @module webhooks
 * Webhooks: per project, a URL that gets each lifecycle event of the project as a signed POST.
 *
 * Delivery never blocks the API: appending an event only queues it (bounded per webhook; when a
 * target is down long enough to fill its queue, the oldest waiting events are dropped and the
 * delivery log says so). A bounded number of deliveries run at once, each with a deadline; a failed
 * one (a network error, a timeout, any status but 2xx) is retried with exponential backoff and
 * jitter up to `attempts` tries. Every attempt is written to the delivery log.
 *
 * Signature: `Airlock-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>`, so a
 * receiver can check both the body and its freshness (replays of an old body fail the time check).
 */
import { createHmac, randomBytes } from 'node:crypto';
import type Database from 'better-sqlite3';
import type { EventType, LifecycleEvent, Webhook, WebhookDelivery } from '@airlock/protocol';
import { ErrorCode } from '@airlock/protocol/errors';
import { AirlockError, notFound } from '../errors.js';
import type { Logger } from '../log.js';
import { post, refuseLiteral } from './webhook-target.js';

export interface WebhookSettings {
  attempts: number;
  backoffMs: number;
  timeoutMs: number;
  maxPerProject: number;
  /** Events waiting per webhook before the oldest are dropped. */
  maxQueued?: number;
  /** Deliveries in flight at once, over all webhooks. */
  concurrency?: number;
  /** Whether targets may be loopback, private or link-local addresses (webhook-target.ts). */
  privateTargets?: boolean;
}

type Row = { id: string; project: string; url: string; secret: string; types: string | null; created_at: string };
type DeliveryRow = {
  id: number;
  webhook: string;
  event: number;
  type: string;
  attempt: number;
  time: string;
  outcome: string;
  status: number | null;
  error: string | null;
  duration_ms: number;
};
type Outcome = WebhookDelivery['outcome'];

interface Job {
  hook: Row;
  event: LifecycleEvent;
  body: string;
  attempt: number;
}

export function sign(secret: string, t: number, body: string): string {
  return `t=${t},v1=${createHmac('sha256', secret).update(`${t}.${body}`).digest('hex')}`;
}

/** Keeps the delivery log from growing without bound: the newest this many per webhook. */
const LOG_KEPT = 1000;

export class Webhooks {
  readonly #db: Database.Database;
  readonly #s: Required<WebhookSettings>;
  readonly #log: Logger;
  readonly #onOutcome: (o: Outcome) => void;
  /** Per webhook id: events waiting for their first try (the retries wait on timers). */
  readonly #queues = new Map<string, Job[]>();
  readonly #timers = new Set<NodeJS.Timeout>();
  readonly #inflight = new Set<Promise<void>>();
  readonly #aborts = new AbortController();
  #hooks: Row[] = [];
  #closed = false;

  constructor(db: Database.Database, settings: WebhookSettings, log: Logger, onOutcome: (o: Outcome) => void) {
    this.#db = db;
    this.#s = { maxQueued: 10_000, concurrency: 8, privateTargets: false, ...settings };
    this.#log = log;
    this.#onOutcome = onOutcome;
    this.#reload();
  }

  create(project: string, url: string, types: EventType[] | undefined): Webhook {
    const literal = this.#s.privateTargets ? undefined : refuseLiteral(new URL(url));
    if (literal) throw new AirlockError(ErrorCode.InvalidRequest, `webhook url: ${literal}`);
    const count = (this.#db.prepare('SELECT COUNT(*) AS n FROM webhooks WHERE project = ?').get(project) as { n: number }).n;
    if (count >= this.#s.maxPerProject)
      throw new AirlockError(ErrorCode.Capacity, `project ${project} has ${count} webhooks, the most allowed; delete one first`);
    const row: Row = {
      id: `wh_${randomBytes(8).toString('hex')}`,
      project,
      url,
      secret: `whsec_${randomBytes(24).toString('base64url')}`,
      types: types ? JSON.stringify(types) : null,
      created_at: new Date().toISOString(),
    };
    this.#db.prepare('INSERT INTO webhooks (id, project, url, secret, types, created_at) VALUES (@id, @project, @url, @secret, @types, @created_at)').run(row);
    this.#reload();
    return { ...view(row), secret: row.secret };
  }

  list(project: string): Webhook[] {
    return this.#hooks.filter((h) => h.project === project).map(view);
  }

  delete(project: string, id: string): void {
    const r = this.#db.prepare('DELETE FROM webhooks WHERE id = ? AND project = ?').run(id, project);
    if (r.changes === 0) throw notFound(`webhook ${id}`);
    this.#db.prepare('DELETE FROM deliveries WHERE webhook = ?').run(id);
    this.#queues.delete(id);
    this.#reload();
  }

  deliveries(project: string, id: string, limit: number): WebhookDelivery[] {
    if (!this.#hooks.some((h) => h.id === id && h.project === project)) throw notFound(`webhook ${id}`);
    const rows = this.#db.prepare('SELECT * FROM deliveries WHERE webhook = ? ORDER BY id DESC LIMIT ?').all(id, limit) as DeliveryRow[];
    return rows.map((r) => ({
      id: r.id,
      webhook: r.webhook,
      event: String(r.event),
      type: r.type as EventType,
      attempt: r.attempt,
      time: r.time,
      outcome: r.outcome as Outcome,
      status: r.status,
      error: r.error,
      durationMs: r.duration_ms,
    }));
  }

  /** Queues the event for every webhook of its project that wants its type; returns at once. */
  dispatch(event: LifecycleEvent): void {
    if (this.#closed) return;
    for (const hook of this.#hooks) {
      if (hook.project !== event.project) continue;
      if (hook.types !== null && !(JSON.parse(hook.types) as string[]).includes(event.type)) continue;
      const q = this.#queues.get(hook.id) ?? [];
      this.#queues.set(hook.id, q);
      q.push({ hook, event, body: JSON.stringify(event), attempt: 1 });
      if (q.length > this.#s.maxQueued) this.#record(q.shift()!, 'dropped', null, 'the webhook queue was full (its target is down or slow)', 0);
    }
    this.#pump();
  }

  /** Stops delivering: attempts in flight are aborted, retries forgotten (they are in the delivery log as failed). */
  async close(): Promise<void> {
    this.#closed = true;
    this.#aborts.abort();
    for (const t of this.#timers) clearTimeout(t);
    this.#timers.clear();
    await Promise.allSettled([...this.#inflight]);
  }

  #pump(): void {
    while (!this.#closed && this.#inflight.size < this.#s.concurrency) {
      const job = this.#next();
      if (!job) return;
      const p = this.#attempt(job).finally(() => {
        this.#inflight.delete(p);
        this.#pump();
      });
      this.#inflight.add(p);
    }
  }

  /** Round-robin over webhooks, so one slow target does not starve the others. */
  #next(): Job | undefined {
    for (const [id, q] of this.#queues) {
      const job = q.shift();
      this.#queues.delete(id);
      if (q.length > 0) this.#queues.set(id, q);
      if (job) return job;
    }
    return undefined;
  }

  async #attempt(job: Job): Promise<void> {
    const t0 = performance.now();
    const t = Math.floor(Date.now() / 1000);
    let status: number | null = null;
    let error: string | null = null;
    try {
      const timeout = AbortSignal.timeout(this.#s.timeoutMs);
      status = await post(
        job.hook.url,
        {
          'content-type': 'application/json',
          'user-agent': 'airlock-webhooks',
          'airlock-event-id': job.event.id,
          'airlock-event-type': job.event.type,
          'airlock-delivery-attempt': String(job.attempt),
          'airlock-signature': sign(job.hook.secret, t, job.body),
        },
        job.body,
        AbortSignal.any([timeout, this.#aborts.signal]),
        this.#s.privateTargets,
      ).catch((e: unknown) => {
        throw timeout.aborted ? Object.assign(new Error('timeout'), { name: 'TimeoutError' }) : e;
      });
      if (status < 200 || status > 299) error = `the target answered ${status}`;
    } catch (e) {
      error = describe(e);
    }
    const ms = performance.now() - t0;
    if (error === null) return this.#record(job, 'delivered', status, null, ms);
    if (this.#closed) return this.#record(job, 'failed', status, `${error} (the server stopped before a retry)`, ms);
    if (job.attempt >= this.#s.attempts) return this.#record(job, 'gave_up', status, error, ms);
    this.#record(job, 'failed', status, error, ms);
    const delay = this.#s.backoffMs * 2 ** (job.attempt - 1) * (0.75 + Math.random() * 0.5);
    const timer = setTimeout(() => {
      this.#timers.delete(timer);
      if (this.#closed || !this.#hooks.some((h) => h.id === job.hook.id)) return;
      // A retry goes to the front of its webhook's queue: events stay in order per target as far as retries allow.
      const q = this.#queues.get(job.hook.id) ?? [];
      q.unshift({ ...job, attempt: job.attempt + 1 });
      this.#queues.set(job.hook.id, q);
      this.#pump();
    }, delay);
    timer.unref();
    this.#timers.add(timer);
  }

  #record(job: Job, outcome: Outcome, status: number | null, error: string | null, ms: number): void {
    this.#onOutcome(outcome);
    if (outcome !== 'delivered')
      this.#log.warn({ webhook: job.hook.id, event: job.event.id, attempt: job.attempt, outcome, status, error }, 'webhook delivery failed');
    if (!this.#hooks.some((h) => h.id === job.hook.id)) return;
    this.#db
      .prepare('INSERT INTO deliveries (webhook, event, type, attempt, time, outcome, status, error, duration_ms) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)')
      .run(job.hook.id, Number(job.event.id), job.event.type, job.attempt, new Date().toISOString(), outcome, status, error, Math.round(ms * 10) / 10);
    this.#db
      .prepare('DELETE FROM deliveries WHERE webhook = ? AND id <= (SELECT MAX(id) FROM deliveries WHERE webhook = ?) - ?')
      .run(job.hook.id, job.hook.id, LOG_KEPT);
  }

  #reload(): void {
    this.#hooks = this.#db.prepare('SELECT * FROM webhooks ORDER BY created_at').all() as Row[];
  }
}

function view(r: Row): Webhook {
  return { id: r.id, project: r.project, url: r.url, types: r.types ? (JSON.parse(r.types) as EventType[]) : null, createdAt: r.created_at };
}

function describe(e: unknown): string {
  if (e instanceof Error) {
    const cause = (e as { cause?: { code?: string; message?: string } }).cause;
    if (e.name === 'TimeoutError') return 'the target did not answer in time';
    if ((e as { code?: string }).code === 'ENOTPUBLIC') return e.message.slice(0, 300);
    return (cause?.code ?? cause?.message ?? (e as { code?: string }).code ?? e.message).slice(0, 300);
  }
  return 'unknown error';
}
