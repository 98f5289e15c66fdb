import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SqliteStore } from './sqlite-store.js';
import { storeConformance } from './store-conformance.js';

storeConformance('sqlite', () => {
  const path = join(mkdtempSync(join(tmpdir(), 'airlock-store-')), 'airlock.db');
  return { store: new SqliteStore(path), reopen: () => new SqliteStore(path) };
});
