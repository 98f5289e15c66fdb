/**
 * @module sqlite/database
 * Opening the embedded database: one SQLite file in WAL mode (better-sqlite3). Schema changes are
 * ordered migrations recorded in user_version; a statement is prepared once and reused.
 */
import Database from 'better-sqlite3';

/** Exported so a test can build the schema an older release left. */
export const MIGRATIONS: readonly string[] = [
  `CREATE TABLE sandboxes (
     id TEXT PRIMARY KEY,
     state TEXT NOT NULL,
     runtime TEXT NOT NULL,
     image TEXT NOT NULL,
     cpu REAL NOT NULL,
     memory_mib INTEGER NOT NULL,
     pids INTEGER NOT NULL,
     timeout INTEGER,
     env TEXT NOT NULL,
     metadata TEXT NOT NULL,
     created_at TEXT NOT NULL,
     started_at TEXT,
     stopped_at TEXT,
     expires_at TEXT,
     stop_reason TEXT,
     slot INTEGER NOT NULL
   );
   CREATE INDEX sandboxes_state ON sandboxes(state);
   CREATE TABLE api_keys (id TEXT PRIMARY KEY, hash TEXT NOT NULL UNIQUE, name TEXT NOT NULL, created_at TEXT NOT NULL);`,
  `CREATE TABLE images (
     id TEXT PRIMARY KEY,
     repository TEXT NOT NULL,
     config_digest TEXT NOT NULL,
     config TEXT NOT NULL,
     layers TEXT NOT NULL,
     size INTEGER NOT NULL,
     unpacked_bytes INTEGER NOT NULL,
     created_at TEXT NOT NULL,
     last_used_at TEXT NOT NULL
   );
   CREATE TABLE image_references (reference TEXT PRIMARY KEY, image_id TEXT NOT NULL REFERENCES images(id) ON DELETE CASCADE);
   CREATE INDEX image_references_image ON image_references(image_id);
   ALTER TABLE sandboxes ADD COLUMN image_id TEXT NOT NULL DEFAULT 'default';
   ALTER TABLE sandboxes ADD COLUMN disk_mib INTEGER NOT NULL DEFAULT 0;
   CREATE INDEX sandboxes_image ON sandboxes(image_id);`,
  `ALTER TABLE sandboxes ADD COLUMN pool TEXT;
   ALTER TABLE sandboxes ADD COLUMN release_pending INTEGER NOT NULL DEFAULT 0;`,
  // Every record belongs to a project; what existed before tenancy belongs to `default`.
  `ALTER TABLE sandboxes ADD COLUMN project TEXT NOT NULL DEFAULT 'default';
   ALTER TABLE sandboxes ADD COLUMN stop_detail TEXT;
   ALTER TABLE sandboxes ADD COLUMN enforced TEXT;
   ALTER TABLE images ADD COLUMN project TEXT NOT NULL DEFAULT 'default';
   ALTER TABLE api_keys ADD COLUMN project TEXT NOT NULL DEFAULT 'default';
   CREATE INDEX sandboxes_project_state ON sandboxes(project, state);
   CREATE INDEX sandboxes_expiry ON sandboxes(expires_at) WHERE state = 'running' AND expires_at IS NOT NULL;`,
  `ALTER TABLE sandboxes ADD COLUMN network TEXT;`,
  // Tenancy: projects, key roles and lifetimes, image references per project, the audit log. Keys
  // from before had no role: the only one was the admin key. Images from before are `default`'s.
  `CREATE TABLE projects (name TEXT PRIMARY KEY, created_at TEXT NOT NULL, overrides TEXT NOT NULL DEFAULT '{}');
   INSERT INTO projects (name, created_at) VALUES ('default', strftime('%Y-%m-%dT%H:%M:%fZ', 'now'));
   INSERT OR IGNORE INTO projects (name, created_at) SELECT DISTINCT project, strftime('%Y-%m-%dT%H:%M:%fZ', 'now') FROM sandboxes;
   ALTER TABLE api_keys ADD COLUMN role TEXT NOT NULL DEFAULT 'admin';
   ALTER TABLE api_keys ADD COLUMN expires_at TEXT;
   ALTER TABLE api_keys ADD COLUMN revoked_at TEXT;
   CREATE INDEX api_keys_project ON api_keys(project);
   CREATE TABLE image_grants (project TEXT NOT NULL, image_id TEXT NOT NULL REFERENCES images(id) ON DELETE CASCADE, PRIMARY KEY (project, image_id));
   CREATE INDEX image_grants_image ON image_grants(image_id);
   INSERT INTO image_grants (project, image_id) SELECT project, id FROM images;
   CREATE TABLE audit (
     seq INTEGER PRIMARY KEY AUTOINCREMENT,
     at TEXT NOT NULL,
     key_id TEXT NOT NULL,
     project TEXT NOT NULL,
     action TEXT NOT NULL,
     target TEXT,
     status INTEGER NOT NULL,
     result TEXT NOT NULL,
     argv TEXT
   );
   CREATE INDEX audit_project ON audit(project, seq);`,
  // References per project (issue #12): a tag was one global name, so one project tagging it
  // repointed it for all. Each reference goes to every project that holds a grant on its image;
  // one whose image nobody holds goes to the image's recording project, which is granted it.
  `CREATE TABLE project_references (
     project TEXT NOT NULL,
     reference TEXT NOT NULL,
     image_id TEXT NOT NULL REFERENCES images(id) ON DELETE CASCADE,
     PRIMARY KEY (project, reference)
   );
   INSERT OR IGNORE INTO image_grants (project, image_id)
     SELECT images.project, images.id FROM image_references JOIN images ON images.id = image_references.image_id
     WHERE NOT EXISTS (SELECT 1 FROM image_grants WHERE image_grants.image_id = images.id);
   INSERT INTO project_references (project, reference, image_id)
     SELECT image_grants.project, image_references.reference, image_references.image_id
     FROM image_references JOIN image_grants ON image_grants.image_id = image_references.image_id;
   DROP TABLE image_references;
   ALTER TABLE project_references RENAME TO image_references;
   CREATE INDEX image_references_image ON image_references(image_id);`,
];

export class SqliteDatabase {
  readonly db: Database.Database;
  readonly #statements = new Map<string, Database.Statement>();

  constructor(path: string) {
    this.db = new Database(path);
    this.db.pragma('journal_mode = WAL');
    this.db.pragma('synchronous = NORMAL');
    this.db.pragma('busy_timeout = 5000');
    this.db.pragma('foreign_keys = ON');
    const version = this.db.pragma('user_version', { simple: true }) as number;
    for (let v = version; v < MIGRATIONS.length; v++) {
      this.db.transaction(() => {
        this.db.exec(MIGRATIONS[v]!);
        this.db.pragma(`user_version = ${v + 1}`);
      })();
    }
  }

  /** A statement prepared once per SQL text (preparing costs ~0.1 ms; an exec looks its sandbox up). */
  stmt(sql: string): Database.Statement {
    let st = this.#statements.get(sql);
    if (!st) {
      st = this.db.prepare(sql);
      this.#statements.set(sql, st);
    }
    return st;
  }

  close(): void {
    this.db.close();
  }
}
