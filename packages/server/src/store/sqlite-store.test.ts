import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after } from 'node:test';
import { SqliteStore } from './sqlite-store.js';
import { storeConformance } from './store-conformance.js';

const dirs: string[] = [];
after(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

storeConformance('sqlite', () => {
  const dir = mkdtempSync(join(tmpdir(), 'airlock-store-'));
  dirs.push(dir);
  const path = join(dir, 'airlock.db');
  return { store: new SqliteStore(path), reopen: () => new SqliteStore(path) };
});
