/**
 * @module event-log
 * The lifecycle events of every project, in one sequence: appended here, kept in SQLite (the newest
 * `retained`, for Last-Event-ID resumption across reconnects and restarts), and handed to live
 * subscribers (SSE streams, webhook dispatch) once written. A subscriber must not block: each one
 * queues what it cannot take yet, with its own bound.
 *
 * An append only numbers the event and queues it; the queue is written in one transaction at most
 * FLUSH_MS later, then the subscribers are told. One insert per event, on the request's path, cost
 * ~35 µs each, two per exec: more than the 3% budget of a 2 ms exec round trip
 * (docs/observability.md, the overhead measurement); a batch costs a few µs an event.
 */
import type Database from 'better-sqlite3';
import type { EventType, LifecycleEvent, RuntimeName } from '@airlock/protocol';

export type EventInput = Omit<LifecycleEvent, 'id' | 'time'>;

/** Events wait at most this long to be written and told (what SSE and webhooks lag by at worst). */
const FLUSH_MS = 20;

type Row = { seq: number; project: string; type: string; sandbox: string; runtime: string; time: string; data: string };

export class EventLog {
  readonly #db: Database.Database;
  readonly #retained: number;
  readonly #subscribers = new Set<(e: LifecycleEvent) => void>();
  readonly #insert: Database.Statement;
  readonly #since: Database.Statement;
  readonly #oldest: Database.Statement;
  readonly #prune: Database.Statement;
  #appended = 0;
  #next: number;
  #pending: { event: LifecycleEvent; input: EventInput }[] = [];
  #flushing: NodeJS.Timeout | undefined;

  constructor(db: Database.Database, retained: number) {
    this.#db = db;
    this.#retained = retained;
    this.#insert = db.prepare('INSERT INTO events (seq, project, type, sandbox, runtime, time, data) VALUES (?, ?, ?, ?, ?, ?, ?)');
    // Numbers go on from the highest ever given (AUTOINCREMENT's own record), so a restart never reuses one.
    const seqRow = db.prepare("SELECT seq FROM sqlite_sequence WHERE name = 'events'").get() as { seq: number } | undefined;
    this.#next = (seqRow?.seq ?? 0) + 1;
    this.#since = db.prepare('SELECT * FROM events WHERE project = ? AND seq > ? ORDER BY seq LIMIT ?');
    this.#oldest = db.prepare('SELECT MIN(seq) AS seq FROM events WHERE project = ?');
    this.#prune = db.prepare('DELETE FROM events WHERE seq <= (SELECT MAX(seq) FROM events) - ?');
  }

  append(input: EventInput): LifecycleEvent {
    const event: LifecycleEvent = { ...input, id: String(this.#next++), time: new Date().toISOString() };
    this.#pending.push({ event, input });
    if (this.#flushing === undefined) {
      this.#flushing = setTimeout(() => this.flush(), FLUSH_MS);
      this.#flushing.unref();
    }
    return event;
  }

  /** Writes what is queued (one transaction), then tells the subscribers. */
  flush(): void {
    clearTimeout(this.#flushing);
    this.#flushing = undefined;
    const batch = this.#pending;
    if (batch.length === 0) return;
    this.#pending = [];
    this.#db.transaction(() => {
      for (const { event: e, input } of batch) this.#insert.run(Number(e.id), e.project, e.type, e.sandbox, e.runtime, e.time, JSON.stringify(input.data));
    })();
    // Pruning every append would cost a delete per event; every 1% of the bound keeps it within 1%.
    this.#appended += batch.length;
    const every = Math.max(1, Math.floor(this.#retained / 100));
    if (this.#appended >= every) {
      this.#appended = 0;
      this.#prune.run(this.#retained);
    }
    for (const { event } of batch) for (const s of this.#subscribers) s(event);
  }

  /** Events of the project after `after` (a seq), oldest first, at most `limit`. */
  since(project: string, after: number, limit: number): LifecycleEvent[] {
    return (this.#since.all(project, after, limit) as Row[]).map(toEvent);
  }

  /** The newest seq of any project (0: none yet): where a stream that does not resume starts. */
  latest(): number {
    return this.#next - 1;
  }

  /** The oldest seq still kept for the project (undefined: none kept). */
  oldest(project: string): number | undefined {
    const r = this.#oldest.get(project) as { seq: number | null };
    return r.seq ?? undefined;
  }

  subscribe(listener: (e: LifecycleEvent) => void): () => void {
    this.#subscribers.add(listener);
    return () => this.#subscribers.delete(listener);
  }

  get subscribers(): number {
    return this.#subscribers.size;
  }

  get db(): Database.Database {
    return this.#db;
  }
}

function toEvent(r: Row): LifecycleEvent {
  return {
    id: String(r.seq),
    type: r.type as EventType,
    time: r.time,
    project: r.project,
    sandbox: r.sandbox,
    runtime: r.runtime as RuntimeName,
    data: JSON.parse(r.data) as LifecycleEvent['data'],
  };
}
