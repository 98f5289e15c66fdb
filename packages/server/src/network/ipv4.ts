/**
 * @module ipv4
 * IPv4 addresses and CIDRs as unsigned 32-bit numbers. Parsing is strict on purpose: only four
 * decimal parts without leading zeros, because `010.1.1.1` (octal), `2130706433` (one number) or
 * `127.1` (short form) mean different addresses to different parsers, and a policy must mean one
 * thing. IPv6 is off inside sandboxes, so there is no IPv6 counterpart.
 */

export interface Cidr {
  /** Network address (host bits zero). */
  base: number;
  bits: number;
}

const PART = /^(0|[1-9][0-9]{0,2})$/;

/** The address as a number, or undefined if `s` is not a canonical dotted quad. */
export function parseIPv4(s: string): number | undefined {
  const parts = s.split('.');
  if (parts.length !== 4) return undefined;
  let n = 0;
  for (const p of parts) {
    if (!PART.test(p)) return undefined;
    const v = Number(p);
    if (v > 255) return undefined;
    n = n * 256 + v;
  }
  return n;
}

export function formatIPv4(n: number): string {
  return [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join('.');
}

function mask(bits: number): number {
  return bits === 0 ? 0 : (0xffffffff << (32 - bits)) >>> 0;
}

/** `10.0.0.0/8` or a bare address (a /32); undefined if malformed. Host bits must be zero. */
export function parseCidr(s: string): Cidr | { error: string } | undefined {
  const slash = s.indexOf('/');
  const addr = parseIPv4(slash < 0 ? s : s.slice(0, slash));
  if (addr === undefined) return undefined;
  if (slash < 0) return { base: addr, bits: 32 };
  const b = s.slice(slash + 1);
  if (!/^(0|[1-9][0-9]?)$/.test(b) || Number(b) > 32) return { error: `prefix length "/${b}" must be 0-32` };
  const bits = Number(b);
  if ((addr & ~mask(bits)) >>> 0 !== 0) return { error: `host bits are set (did you mean ${formatIPv4((addr & mask(bits)) >>> 0)}/${bits}?)` };
  return { base: addr, bits };
}

export function cidr(s: string): Cidr {
  const c = parseCidr(s);
  if (c === undefined || 'error' in c) throw new Error(`bad CIDR constant ${s}`);
  return c;
}

export function formatCidr(c: Cidr): string {
  return c.bits === 32 ? formatIPv4(c.base) : `${formatIPv4(c.base)}/${c.bits}`;
}

export function cidrContains(c: Cidr, addr: number): boolean {
  return (addr & mask(c.bits)) >>> 0 === c.base;
}

/** Whether every address of `inner` lies in `outer`. */
export function cidrWithin(inner: Cidr, outer: Cidr): boolean {
  return inner.bits >= outer.bits && cidrContains(outer, inner.base);
}

/** The n-th block of `bits` inside `c` (0-based). */
export function subnetAt(c: Cidr, bits: number, n: number): Cidr {
  const size = 2 ** (32 - bits);
  return { base: (c.base + n * size) >>> 0, bits };
}

export function cidrSize(c: Cidr): number {
  return 2 ** (32 - c.bits);
}
