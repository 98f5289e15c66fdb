/** @module ids */
import { randomBytes } from 'node:crypto';

const ALPHABET = 'abcdefghijklmnopqrstuvwxyz0123456789';

/** `sb-` + 20 random chars: fixed length, because runsc resolves container ids by prefix. */
export function newSandboxId(): string {
  const bytes = randomBytes(20);
  let s = 'sb-';
  for (const b of bytes) s += ALPHABET[b % 36];
  return s;
}
