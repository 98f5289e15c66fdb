/** @module ids */
import { randomInt } from 'node:crypto';

const ALPHABET = 'abcdefghijklmnopqrstuvwxyz0123456789';

/**
 * `sb-` + 24 random base36 chars (unbiased, ~124 bits), so ids cannot be guessed or probed across
 * projects. Fixed length, because runsc resolves container ids by prefix; ids made before tenancy
 * have 20 and are still accepted everywhere (SANDBOX_ID_CHARS).
 */
export function newSandboxId(): string {
  let s = 'sb-';
  for (let i = 0; i < 24; i++) s += ALPHABET[randomInt(ALPHABET.length)];
  return s;
}

/** The random part of a sandbox id, in a regular expression: 24 chars, or 20 for ids from before. */
export const SANDBOX_ID_CHARS = '[a-z0-9]{20}(?:[a-z0-9]{4})?';
