/**
 * @module api-keys
 * Admin API keys. Only a SHA-256 hash is stored (keys are 256-bit random, so a fast hash is enough);
 * the clear key is shown once, and written to a 0600 credentials file in the data dir so that a CLI
 * on the same machine finds the server.
 */
import { createHash, randomBytes, randomUUID, timingSafeEqual } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Store } from '../store/store.js';

export const CREDENTIALS_FILE = 'credentials.json';

export function hashKey(key: string): string {
  return createHash('sha256').update(key).digest('hex');
}

export function generateKey(): string {
  return `ak_${randomBytes(32).toString('base64url')}`;
}

/**
 * Makes sure an admin key exists. Returns the clear key when it was just created (to print once),
 * or the fixed key from config.
 */
export function ensureAdminKey(store: Store, fixedKey: string | undefined): { key: string | undefined; created: boolean } {
  if (fixedKey !== undefined) {
    const hash = hashKey(fixedKey);
    if (!store.findApiKeyByHash(hash)) store.insertApiKey({ id: randomUUID(), hash, name: 'admin (AIRLOCK_API_KEY)', createdAt: new Date().toISOString() });
    return { key: fixedKey, created: false };
  }
  if (store.countApiKeys() > 0) return { key: undefined, created: false };
  const key = generateKey();
  store.insertApiKey({ id: randomUUID(), hash: hashKey(key), name: 'admin', createdAt: new Date().toISOString() });
  return { key, created: true };
}

export function writeCredentials(dataDir: string, url: string, key: string): string {
  const path = join(dataDir, CREDENTIALS_FILE);
  writeFileSync(path, `${JSON.stringify({ url, apiKey: key }, null, 2)}\n`, { mode: 0o600 });
  return path;
}

export function verifyKey(store: Store, presented: string): boolean {
  const hash = hashKey(presented);
  const found = store.findApiKeyByHash(hash);
  return found !== undefined && timingSafeEqual(Buffer.from(found.hash), Buffer.from(hash));
}
