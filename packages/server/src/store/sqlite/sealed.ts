/**
 * @module sqlite/sealed
 * Sandbox env values sealed at rest (AES-256-GCM with a key kept in its own 0600 file): env is
 * where users put secrets, and a copied database file must not give them away. Values written
 * before sealing existed (plain JSON) still read.
 */
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';

const PREFIX = 'enc:v1:';

export function seal(key: Buffer | undefined, plain: string): string {
  if (!key) return plain;
  const iv = randomBytes(12);
  const c = createCipheriv('aes-256-gcm', key, iv);
  const ct = Buffer.concat([c.update(plain, 'utf8'), c.final()]);
  return `${PREFIX}${iv.toString('base64')}:${c.getAuthTag().toString('base64')}:${ct.toString('base64')}`;
}

/** The plain text, or undefined when it is sealed and cannot be opened (wrong key, damaged). */
export function unseal(key: Buffer | undefined, stored: string): string | undefined {
  if (!stored.startsWith(PREFIX)) return stored;
  if (!key) return undefined;
  const [iv, tag, ct] = stored.slice(PREFIX.length).split(':');
  if (iv === undefined || tag === undefined || ct === undefined) return undefined;
  try {
    const d = createDecipheriv('aes-256-gcm', key, Buffer.from(iv, 'base64'));
    d.setAuthTag(Buffer.from(tag, 'base64'));
    return Buffer.concat([d.update(Buffer.from(ct, 'base64')), d.final()]).toString('utf8');
  } catch {
    return undefined;
  }
}
