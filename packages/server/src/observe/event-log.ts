/**
 * @module event-log
 * The lifecycle events of every project, in one sequence: appended here, kept in SQLite (the newest
 * `retained`, for Last-Event-ID resumption across reconnects and restarts), and handed to live
 * subscribers (SSE streams, webhook dispatch) synchronously after the append. A subscriber must not
 * block: each one queues what it cannot take yet, with its own bound.
 */
import type Database from 'better-sqlite3';
import type { EventType, LifecycleEvent, RuntimeName } from '@airlock/protocol';

export type EventInput = Omit<LifecycleEvent, 'id' | 'time'>;

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

  constructor(db: Database.Database, retained: number) {
    this.#db = db;
    this.#retained = retained;
    this.#insert = db.prepare('INSERT INTO events (project, type, sandbox, runtime, time, data) VALUES (?, ?, ?, ?, ?, ?)');
    this.#since = db.prepare('SELECT * FROM events WHERE project = ? AND seq > ? ORDER BY seq LIMIT ?');
    this.#oldest = db.prepare('SELECT MIN(seq) AS seq FROM events WHERE project = ?');
    this.#prune = db.prepare('DELETE FROM events WHERE seq <= (SELECT MAX(seq) FROM events) - ?');
  }

  append(input: EventInput): LifecycleEvent {
    const time = new Date().toISOString();
    const r = this.#insert.run(input.project, input.type, input.sandbox, input.runtime, time, JSON.stringify(input.data));
    const event: LifecycleEvent = { ...input, id: String(r.lastInsertRowid), time };
    // Pruning every append would cost a delete per event; every 1% of the bound keeps it within 1%.
    if (++this.#appended % Math.max(1, Math.floor(this.#retained / 100)) === 0) this.#prune.run(this.#retained);
    for (const s of this.#subscribers) s(event);
    return event;
  }

  /** Events of the project after `after` (a seq), oldest first, at most `limit`. */
  since(project: string, after: number, limit: number): LifecycleEvent[] {
    return (this.#since.all(project, after, limit) as Row[]).map(toEvent);
  }

  /** The newest seq of any project (0: none yet): where a stream that does not resume starts. */
  latest(): number {
    return (this.#db.prepare('SELECT MAX(seq) AS seq FROM events').get() as { seq: number | null }).seq ?? 0;
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
  return { id: String(r.seq), type: r.type as EventType, time: r.time, project: r.project, sandbox: r.sandbox, runtime: r.runtime as RuntimeName, data: JSON.parse(r.data) as LifecycleEvent['data'] };
}
