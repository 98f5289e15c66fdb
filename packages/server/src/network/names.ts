/**
 * @module names
 * One normal form for domain names, used for policy entries, DNS questions, SNI and Host alike, so
 * that a name cannot match in one place and not in another: lower case, no trailing dot, IDN
 * labels in punycode (UTS #46 mapping, so `ＥＸＡＭＰＬＥ.com` is `example.com`), each label
 * 1-63 characters of letters, digits, `-` and `_`, at most 253 characters in all. A name whose
 * last label is all digits is refused: it is an IP literal in disguise (`2130706433`, `127.1`).
 */
import { domainToASCII } from 'node:url';

export const MAX_NAME_LENGTH = 253;
export const MAX_LABEL_LENGTH = 63;

const LABEL = /^[a-z0-9_](?:[a-z0-9_-]*[a-z0-9_])?$/;

export type NameResult = { name: string } | { error: string };

export function normaliseName(input: string): NameResult {
  if (input.length === 0) return { error: 'empty name' };
  if (input.length > MAX_NAME_LENGTH + 1) return { error: `longer than ${MAX_NAME_LENGTH} characters` };
  let s = input.endsWith('.') ? input.slice(0, -1) : input;
  // Only plain ASCII skips the IDN mapping; anything else goes through UTS #46 (which also
  // lowercases and rejects what cannot be a host name).
  if (!/^[\x21-\x7e]*$/.test(s)) {
    const ascii = domainToASCII(s);
    if (ascii === '') return { error: 'not a valid internationalised domain name' };
    s = ascii;
  }
  s = s.toLowerCase();
  if (s.length > MAX_NAME_LENGTH) return { error: `longer than ${MAX_NAME_LENGTH} characters` };
  const labels = s.split('.');
  for (const l of labels) {
    if (l.length === 0) return { error: 'has an empty label' };
    if (l.length > MAX_LABEL_LENGTH) return { error: `has a label longer than ${MAX_LABEL_LENGTH} characters` };
    if (!LABEL.test(l)) return { error: `label "${l}" may only hold letters, digits, "-" and "_", and not start or end with "-"` };
  }
  if (/^[0-9]+$/.test(labels[labels.length - 1]!)) return { error: 'looks like an IP address, not a domain name' };
  return { name: s };
}

/** Whether `name` (normalised) lies strictly below `suffix`, at a label boundary (`a.b.c` below `b.c`, not `xb.c`). */
export function isSubdomainOf(name: string, suffix: string): boolean {
  return name.length > suffix.length && name.endsWith(suffix) && name[name.length - suffix.length - 1] === '.';
}
