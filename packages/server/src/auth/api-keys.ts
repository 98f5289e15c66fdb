/**
 * @module api-keys
 * API keys. A key is `ak_<id>_<secret>`: the id is public (safe to log, it names the key in the
 * audit log and the API), the secret is 256 random bits. Only a SHA-256 hash of the whole key is
 * stored (a fast hash is enough for a high-entropy secret) and compared in constant time. The first
 * start's admin key belongs to the `default` project and is written to a 0600 credentials file in
 * the data dir so that a CLI on the same machine finds the server.
 */
import { createHash, randomBytes, randomInt, randomUUID, timingSafeEqual } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { DEFAULT_PROJECT, type ApiKeyRecord, type KeyRole, type KeyStore } from '../store/store.js';

export const CREDENTIALS_FILE = 'credentials.json';

const ID_ALPHABET = 'abcdefghijklmnopqrstuvwxyz0123456789';

export function hashKey(key: string): string {
  return createHash('sha256').update(key).digest('hex');
}

/** A new key's public id: 16 base36 characters (unbiased), never part of the secret. */
export function newKeyId(): string {
  let s = '';
  for (let i = 0; i < 16; i++) s += ID_ALPHABET[randomInt(ID_ALPHABET.length)];
  return s;
}

export function generateKey(id = newKeyId()): string {
  return `ak_${id}_${randomBytes(32).toString('base64url')}`;
}

/** A new key's record and its clear text (to show once). */
export function mintKey(project: string, role: KeyRole, name: string, expiresAt: string | null): { key: string; record: ApiKeyRecord } {
  const id = newKeyId();
  const key = generateKey(id);
  return { key, record: { id, project, hash: hashKey(key), name, role, createdAt: new Date().toISOString(), expiresAt, revokedAt: null } };
}

/**
 * Makes sure an admin key exists. Returns the clear key when it was just created (to print once),
 * or the fixed key from config.
 */
export async function ensureAdminKey(keys: KeyStore, fixedKey: string | undefined): Promise<{ key: string | undefined; created: boolean }> {
  const admin = (hash: string, name: string): ApiKeyRecord => ({
    id: randomUUID(),
    project: DEFAULT_PROJECT,
    hash,
    name,
    role: 'admin',
    createdAt: new Date().toISOString(),
    expiresAt: null,
    revokedAt: null,
  });
  if (fixedKey !== undefined) {
    const hash = hashKey(fixedKey);
    if (!(await keys.findByHash(hash))) await keys.insert(admin(hash, 'admin (AIRLOCK_API_KEY)'));
    return { key: fixedKey, created: false };
  }
  if ((await keys.count()) > 0) return { key: undefined, created: false };
  const { key, record } = mintKey(DEFAULT_PROJECT, 'admin', 'admin', null);
  await keys.insert(record);
  return { key, created: true };
}

export function writeCredentials(dataDir: string, url: string, key: string): string {
  const path = join(dataDir, CREDENTIALS_FILE);
  writeFileSync(path, `${JSON.stringify({ url, apiKey: key }, null, 2)}\n`, { mode: 0o600 });
  return path;
}

/** The key's record if the presented key is one, not revoked and not expired; undefined otherwise (no detail: which is nobody's business). */
export async function verifyKey(keys: KeyStore, presented: string, now = Date.now()): Promise<ApiKeyRecord | undefined> {
  if (presented.length > 512) return undefined;
  const hash = hashKey(presented);
  const found = await keys.findByHash(hash);
  if (found === undefined || !timingSafeEqual(Buffer.from(found.hash), Buffer.from(hash))) return undefined;
  if (found.revokedAt !== null) return undefined;
  if (found.expiresAt !== null && Date.parse(found.expiresAt) <= now) return undefined;
  return found;
}
