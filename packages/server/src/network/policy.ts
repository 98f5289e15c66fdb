/**
 * @module policy
 * A sandbox's egress policy as the enforcement code sees it: `none`, `all`, or a list of allow and
 * deny rules, parsed from the wire entries once (with errors that name the entry) and then
 * matched by name (DNS, the proxy) or by address (DNS answers, addresses the proxy dials).
 *
 * Decision order, everywhere: the hard deny set, then deny rules, then allow rules, then the
 * private tier (which only an allow rule for an address inside a private range lifts), then deny.
 */
import { NETWORK_LIMITS, type EgressPolicy } from '@airlock/protocol';
import { AirlockError } from '../errors.js';
import { ErrorCode } from '@airlock/protocol/errors';
import type { PlatformDenySet } from './deny-set.js';
import { cidrContains, parseCidr, type Cidr } from './ipv4.js';
import { isSubdomainOf, normaliseName } from './names.js';

export type Protocol = 'tcp' | 'udp';
export const PROTOCOLS: readonly Protocol[] = ['tcp', 'udp'];

export interface PortRange {
  lo: number;
  hi: number;
}
export const ALL_PORTS: PortRange = { lo: 1, hi: 65535 };

export type Target = { kind: 'domain'; name: string } | { kind: 'wildcard'; suffix: string } | { kind: 'cidr'; net: Cidr; private: boolean };

export interface Rule {
  /** The entry as the user wrote it (audit and error messages). */
  entry: string;
  target: Target;
  ports: PortRange;
  protocols: readonly Protocol[];
}

export type Policy = { mode: 'none' } | { mode: 'all' } | { mode: 'list'; allow: readonly Rule[]; deny: readonly Rule[] };

/** Parses and validates a wire policy; throws invalid_request naming every bad entry. */
export function parsePolicy(wire: EgressPolicy, denySet: PlatformDenySet, path = 'egress'): Policy {
  if (wire === 'none' || wire === 'all') return { mode: wire };
  const issues: { path: string; message: string }[] = [];
  const allow = wire.allow ?? [];
  const deny = wire.deny ?? [];
  if (allow.length + deny.length > NETWORK_LIMITS.maxEntries) {
    throw new AirlockError(
      ErrorCode.InvalidRequest,
      `a policy holds at most ${NETWORK_LIMITS.maxEntries} entries (this one has ${allow.length + deny.length})`,
    );
  }
  const rules = (list: readonly string[], key: 'allow' | 'deny'): Rule[] =>
    list.flatMap((entry, i) => {
      const r = parseEntry(entry);
      let message = 'error' in r ? r.error : undefined;
      if (!('error' in r) && key === 'allow' && r.target.kind === 'cidr') message = denySet.refuseAllow(r.target.net);
      if (message !== undefined) {
        issues.push({ path: `${path}.${key}[${i}]`, message: `"${entry}": ${message}` });
        return [];
      }
      const rule = r as Rule;
      if (rule.target.kind === 'cidr') rule.target.private = denySet.isPrivate(rule.target.net);
      return [rule];
    });
  const policy: Policy = { mode: 'list', allow: rules(allow, 'allow'), deny: rules(deny, 'deny') };
  if (issues.length > 0) {
    throw new AirlockError(ErrorCode.InvalidRequest, `invalid network policy: ${issues.map((i) => i.message).join('; ')}`, { issues });
  }
  return policy;
}

/** `<target>[:<port>|:<lo>-<hi>][/tcp|/udp]` → a rule, or what is wrong with it. */
export function parseEntry(entry: string): Rule | { error: string } {
  let rest = entry.trim();
  if (rest !== entry || rest.length === 0) return { error: 'must not be empty or have surrounding spaces' };
  let protocols: readonly Protocol[] = PROTOCOLS;
  const proto = /\/(tcp|udp)$/i.exec(rest);
  if (proto) {
    protocols = [proto[1]!.toLowerCase() as Protocol];
    rest = rest.slice(0, -proto[0].length);
  }
  if (rest.includes('[') || rest.split(':').length > 2) return { error: 'IPv6 is off inside sandboxes, so IPv6 entries are refused' };
  let ports = ALL_PORTS;
  const colon = rest.lastIndexOf(':');
  if (colon >= 0) {
    const p = parsePorts(rest.slice(colon + 1));
    if ('error' in p) return p;
    ports = p;
    rest = rest.slice(0, colon);
  }
  if (rest.startsWith('*.')) {
    const n = normaliseName(rest.slice(2));
    if ('error' in n) return { error: `wildcard base ${n.error}` };
    if (!n.name.includes('.')) return { error: 'a wildcard must cover the subdomains of a registrable name, not of a top-level domain' };
    return { entry, target: { kind: 'wildcard', suffix: n.name }, ports, protocols };
  }
  if (rest.includes('*')) return { error: '"*" is only allowed as the whole leftmost label ("*.example.com")' };
  if (/^[0-9./]+$/.test(rest)) {
    const c = parseCidr(rest);
    if (c === undefined) return { error: 'not a valid IPv4 address or CIDR (four decimal parts, no leading zeros)' };
    if ('error' in c) return c;
    return { entry, target: { kind: 'cidr', net: c, private: false }, ports, protocols };
  }
  if (rest.includes('/')) return { error: 'a "/" follows only an IPv4 address (a CIDR) or ends the entry as /tcp or /udp' };
  const n = normaliseName(rest);
  if ('error' in n) return { error: `domain ${n.error}` };
  return { entry, target: { kind: 'domain', name: n.name }, ports, protocols };
}

function parsePorts(s: string): PortRange | { error: string } {
  const m = /^([0-9]{1,5})(?:-([0-9]{1,5}))?$/.exec(s);
  if (!m) return { error: `port "${s}" must be a number or a range lo-hi` };
  const lo = Number(m[1]);
  const hi = m[2] === undefined ? lo : Number(m[2]);
  if (lo < 1 || hi > 65535 || lo > hi) return { error: `port range ${s} must lie within 1-65535 with lo <= hi` };
  return { lo, hi };
}

function coversPort(r: Rule, port: number, protocol: Protocol): boolean {
  return r.ports.lo <= port && port <= r.ports.hi && r.protocols.includes(protocol);
}

function coversAllPorts(r: Rule): boolean {
  return r.ports.lo === 1 && r.ports.hi === 65535 && r.protocols.length === PROTOCOLS.length;
}

export function nameMatches(t: Target, name: string): boolean {
  if (t.kind === 'domain') return t.name === name;
  if (t.kind === 'wildcard') return isSubdomainOf(name, t.suffix);
  return false;
}

/**
 * Whether the platform DNS may resolve `name` (normalised) for this sandbox: an allow rule names
 * it (on any port) and no deny rule denies it on every port.
 */
export function mayResolve(policy: Policy, name: string): boolean {
  if (policy.mode === 'none') return false;
  if (policy.mode === 'all') return true;
  if (policy.deny.some((r) => coversAllPorts(r) && nameMatches(r.target, name))) return false;
  return policy.allow.some((r) => nameMatches(r.target, name));
}

export type Verdict = { allowed: true; rule: string } | { allowed: false; reason: string };

/** A connection to `name:port` (the proxy's question, before it resolves the name). */
export function checkName(policy: Policy, name: string, port: number, protocol: Protocol): Verdict {
  if (policy.mode === 'none') return { allowed: false, reason: 'egress is none' };
  if (policy.mode === 'list') {
    const d = policy.deny.find((r) => nameMatches(r.target, name) && coversPort(r, port, protocol));
    if (d) return { allowed: false, reason: `denied by ${d.entry}` };
  }
  if (policy.mode === 'all') return { allowed: true, rule: 'all' };
  const a = policy.allow.find((r) => nameMatches(r.target, name) && coversPort(r, port, protocol));
  return a ? { allowed: true, rule: a.entry } : { allowed: false, reason: `no allow entry covers ${name}:${port}/${protocol}` };
}

/**
 * Whether an address may be used: one the proxy is about to dial (with its port) or one a DNS
 * answer carries (port undefined: any port an allow rule gives). Names were checked already; this
 * is the address half, so domain rules do not count here.
 */
export function checkAddress(policy: Policy, denySet: PlatformDenySet, addr: number, port?: number, protocol?: Protocol): Verdict {
  const tier = denySet.tierOf(addr);
  if (tier === 'hard') return { allowed: false, reason: 'in the platform deny set' };
  if (policy.mode === 'none') return { allowed: false, reason: 'egress is none' };
  const covers = (r: Rule) => r.target.kind === 'cidr' && cidrContains(r.target.net, addr) && (port === undefined || coversPort(r, port, protocol ?? 'tcp'));
  if (policy.mode === 'list') {
    const d = policy.deny.find((r) => covers(r) && (port !== undefined || coversAllPorts(r)));
    if (d) return { allowed: false, reason: `denied by ${d.entry}` };
  }
  if (tier === 'private') {
    const lift = policy.mode === 'list' ? policy.allow.find((r) => covers(r) && r.target.kind === 'cidr' && r.target.private) : undefined;
    return lift ? { allowed: true, rule: lift.entry } : { allowed: false, reason: 'a private address that no allow entry names' };
  }
  return { allowed: true, rule: policy.mode === 'all' ? 'all' : 'name' };
}
