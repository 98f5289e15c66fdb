/**
 * @module observe-db
 * The database of observation: lifecycle events (kept for resumption, oldest pruned first),
 * webhooks and their delivery log. A SQLite file of its own (db/observe.db), so its schema moves
 * independently of the sandbox store's and a busy event stream never contends with it.
 */
import Database from 'better-sqlite3';

const MIGRATIONS: string[] = [
  `CREATE TABLE events (
     seq INTEGER PRIMARY KEY AUTOINCREMENT,
     project TEXT NOT NULL,
     type TEXT NOT NULL,
     sandbox TEXT NOT NULL,
     runtime TEXT NOT NULL,
     time TEXT NOT NULL,
     data TEXT NOT NULL
   );
   CREATE INDEX events_project ON events(project, seq);
   CREATE TABLE webhooks (
     id TEXT PRIMARY KEY,
     project TEXT NOT NULL,
     url TEXT NOT NULL,
     secret TEXT NOT NULL,
     types TEXT,
     created_at TEXT NOT NULL
   );
   CREATE INDEX webhooks_project ON webhooks(project);
   CREATE TABLE deliveries (
     id INTEGER PRIMARY KEY AUTOINCREMENT,
     webhook TEXT NOT NULL,
     event INTEGER NOT NULL,
     type TEXT NOT NULL,
     attempt INTEGER NOT NULL,
     time TEXT NOT NULL,
     outcome TEXT NOT NULL,
     status INTEGER,
     error TEXT,
     duration_ms REAL NOT NULL
   );
   CREATE INDEX deliveries_webhook ON deliveries(webhook, id);`,
];

export function openObserveDb(path: string): Database.Database {
  const db = new Database(path);
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = NORMAL');
  const version = db.pragma('user_version', { simple: true }) as number;
  for (let v = version; v < MIGRATIONS.length; v++) {
    db.transaction(() => {
      db.exec(MIGRATIONS[v]!);
      db.pragma(`user_version = ${v + 1}`);
    })();
  }
  return db;
}
