/**
 * @module api-keys
 * Admin API keys. Only a SHA-256 hash is stored (keys are 256-bit random, so a fast hash is enough);
 * the clear key is shown once, and written to a 0600 credentials file in the data dir so that a CLI
 * on the same machine finds the server.
 */
import { createHash, randomBytes, randomUUID, timingSafeEqual } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { DEFAULT_PROJECT, type KeyStore } from '../store/store.js';

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
export async function ensureAdminKey(keys: KeyStore, fixedKey: string | undefined): Promise<{ key: string | undefined; created: boolean }> {
  if (fixedKey !== undefined) {
    const hash = hashKey(fixedKey);
    if (!(await keys.findByHash(hash))) await keys.insert({ id: randomUUID(), project: DEFAULT_PROJECT, hash, name: 'admin (AIRLOCK_API_KEY)', createdAt: new Date().toISOString() });
    return { key: fixedKey, created: false };
  }
  if ((await keys.count()) > 0) return { key: undefined, created: false };
  const key = generateKey();
  await keys.insert({ id: randomUUID(), project: DEFAULT_PROJECT, hash: hashKey(key), name: 'admin', createdAt: new Date().toISOString() });
  return { key, created: true };
}

export function writeCredentials(dataDir: string, url: string, key: string): string {
  const path = join(dataDir, CREDENTIALS_FILE);
  writeFileSync(path, `${JSON.stringify({ url, apiKey: key }, null, 2)}\n`, { mode: 0o600 });
  return path;
}

export async function verifyKey(keys: KeyStore, presented: string): Promise<boolean> {
  const hash = hashKey(presented);
  const found = await keys.findByHash(hash);
  return found !== undefined && timingSafeEqual(Buffer.from(found.hash), Buffer.from(hash));
}
