/**
 * @module nft-ruleset
 * The nftables text for one server instance's table, generated from the policies (pure: host/nft.ts
 * applies it). Each script is one `nft -f` transaction, so a change is all or nothing: a failed
 * update leaves the previous policy in force.
 *
 * Layout (inet family, one table per server instance):
 *   sources              valid (host veth, sandbox address) pairs; anything else from our veths is spoofed
 *   fwdmap / natmap      verdict maps: host veth → the sandbox's own chains
 *   hard4 / private4     the platform deny set's two tiers
 *   prerouting (nat)     our veths → sbn_<n>: DNS on any address → the platform DNS; proxied ports → the proxy
 *   forward (filter)     from our veths: IPv6 dropped, spoofing dropped, only to uplinks, hard4 dropped,
 *                        then sb_<n> (the policy); to our veths: replies only
 *   input (filter)       from our veths: only the DNS and proxy listeners (never the API or another host service)
 *   postrouting (nat)    masquerade what leaves through an uplink
 * Chains, sets and map elements of a sandbox carry its index; the sets of domain rules (addresses
 * the platform DNS resolved, with timeouts) carry the policy generation, so an update creates new
 * ones instead of racing the old.
 */
import { formatCidr, formatIPv4, type Cidr } from './ipv4.js';
import { ALL_PORTS, PROTOCOLS, type Policy, type PortRange, type Protocol, type Rule } from './policy.js';

export interface TableSpec {
  table: string;
  /** Every host veth of this instance starts with it. */
  vethPrefix: string;
  dnsPort: number;
  /** TCP ports the transparent proxy serves (the original port) and where its listener is. */
  proxied: readonly { port: number; listen: number }[];
  hard: readonly Cidr[];
  private: readonly Cidr[];
  /** Interfaces sandbox traffic may leave through (masqueraded). */
  uplinks: readonly string[];
}

export interface SandboxSpec {
  index: number;
  veth: string;
  address: number;
  policy: Policy;
  generation: number;
}

export interface DynSet {
  set: string;
  rule: Rule;
}

const q = (s: string) => `"${s.replace(/[^A-Za-z0-9_.-]/g, '')}"`;

function portsExpr(ports: PortRange, protocols: readonly Protocol[]): string {
  const full = ports.lo === ALL_PORTS.lo && ports.hi === ALL_PORTS.hi;
  const range = ports.lo === ports.hi ? `${ports.lo}` : `${ports.lo}-${ports.hi}`;
  if (protocols.length === PROTOCOLS.length) return full ? '' : ` meta l4proto { tcp, udp } th dport ${range}`;
  const p = protocols[0]!;
  return full ? ` meta l4proto ${p}` : ` ${p} dport ${range}`;
}

function elements(list: readonly string[]): string {
  return list.length === 0 ? '' : ` elements = { ${list.join(', ')} };`;
}

/** The whole table, replacing whatever this instance had (server start, and the fallback when an incremental change fails). */
export function tableScript(t: TableSpec, sandboxes: readonly SandboxSpec[]): string {
  const T = t.table;
  const proxyPorts = t.proxied.map((p) => p.listen);
  const lines = [
    `table inet ${T} {}`,
    `delete table inet ${T}`,
    `table inet ${T} {`,
    `  set sources { type ifname . ipv4_addr; }`,
    `  map fwdmap { type ifname : verdict; }`,
    `  map natmap { type ifname : verdict; }`,
    `  set hard4 { type ipv4_addr; flags interval; auto-merge;${elements(t.hard.map(formatCidr))} }`,
    `  set private4 { type ipv4_addr; flags interval; auto-merge;${elements(t.private.map(formatCidr))} }`,
    `  set uplinks { type ifname;${elements(t.uplinks.map(q))} }`,
    `  chain prerouting { type nat hook prerouting priority dstnat; policy accept;`,
    `    iifname "${t.vethPrefix}*" iifname vmap @natmap`,
    `  }`,
    `  chain postrouting { type nat hook postrouting priority srcnat; policy accept;`,
    `    iifname "${t.vethPrefix}*" oifname @uplinks masquerade`,
    `  }`,
    `  chain forward { type filter hook forward priority filter; policy accept;`,
    `    iifname "${t.vethPrefix}*" jump from_sandbox`,
    `    oifname "${t.vethPrefix}*" jump to_sandbox`,
    `  }`,
    `  chain from_sandbox {`,
    `    meta nfproto ipv6 drop`,
    `    iifname . ip saddr != @sources drop`,
    `    oifname != @uplinks drop`,
    `    ip daddr @hard4 drop`,
    `    iifname vmap @fwdmap`,
    `    drop`,
    `  }`,
    `  chain to_sandbox {`,
    `    ct state established,related accept`,
    `    drop`,
    `  }`,
    `  chain input { type filter hook input priority filter; policy accept;`,
    `    iifname "${t.vethPrefix}*" jump sandbox_input`,
    `  }`,
    `  chain sandbox_input {`,
    `    meta nfproto ipv6 drop`,
    `    iifname . ip saddr != @sources drop`,
    `    ct state established,related accept`,
    `    meta l4proto { tcp, udp } th dport ${t.dnsPort} accept`,
    ...(proxyPorts.length > 0 ? [`    tcp dport { ${proxyPorts.join(', ')} } accept`] : []),
    `    drop`,
    `  }`,
    `}`,
  ];
  for (const s of sandboxes) lines.push(addSandboxScript(t, s));
  return lines.join('\n') + '\n';
}

/** The domain rules of a policy that need a set of resolved addresses, and the set's name. */
export function dynSets(s: Pick<SandboxSpec, 'index' | 'policy' | 'generation'>): DynSet[] {
  if (s.policy.mode !== 'list') return [];
  return s.policy.allow.filter((r) => r.target.kind !== 'cidr').map((rule, k) => ({ set: `sb${s.index}_g${s.generation}_d${k}`, rule }));
}

/** The TCP ports of `proxied` that some domain rule of the policy covers: those go to the proxy. */
export function proxiedPorts(t: Pick<TableSpec, 'proxied'>, policy: Policy): { port: number; listen: number }[] {
  if (policy.mode !== 'list') return [];
  const domains = [...policy.allow, ...policy.deny].filter((r) => r.target.kind !== 'cidr');
  return t.proxied.filter((p) => domains.some((r) => r.ports.lo <= p.port && p.port <= r.ports.hi && r.protocols.includes('tcp')));
}

function chainRules(t: TableSpec, s: SandboxSpec): { fwd: string[]; nat: string[] } {
  const fwd = ['ct state established,related accept'];
  const nat = [`meta l4proto { tcp, udp } th dport 53 redirect to :${t.dnsPort}`];
  const p = s.policy;
  if (p.mode === 'all') {
    fwd.push('ip daddr @private4 reject with icmpx admin-prohibited', 'accept');
  } else if (p.mode === 'list') {
    const cidrs = (rules: readonly Rule[]) =>
      rules.filter((r): r is Rule & { target: { kind: 'cidr'; net: Cidr; private: boolean } } => r.target.kind === 'cidr');
    for (const r of cidrs(p.deny)) fwd.push(`ip daddr ${formatCidr(r.target.net)}${portsExpr(r.ports, r.protocols)} drop`);
    const allow = cidrs(p.allow);
    for (const r of allow.filter((r) => r.target.private)) fwd.push(`ip daddr ${formatCidr(r.target.net)}${portsExpr(r.ports, r.protocols)} accept`);
    fwd.push('ip daddr @private4 drop');
    for (const r of allow.filter((r) => !r.target.private)) fwd.push(`ip daddr ${formatCidr(r.target.net)}${portsExpr(r.ports, r.protocols)} accept`);
    for (const d of dynSets(s)) fwd.push(`ip daddr @${d.set}${portsExpr(d.rule.ports, d.rule.protocols)} accept`);
    for (const pp of proxiedPorts(t, p)) {
      // An address that an allow CIDR gives on this port takes the L3 path (IP literals work);
      // everything else on the port is judged by name in the proxy.
      for (const r of allow.filter((r) => r.ports.lo <= pp.port && pp.port <= r.ports.hi && r.protocols.includes('tcp'))) {
        nat.push(`ip daddr ${formatCidr(r.target.net)} tcp dport ${pp.port} return`);
      }
      nat.push(`tcp dport ${pp.port} redirect to :${pp.listen}`);
    }
  }
  fwd.push('meta l4proto tcp reject with tcp reset', 'reject with icmpx admin-prohibited');
  return { fwd, nat };
}

/** Creates a sandbox's chains and sets and hooks them in. */
export function addSandboxScript(t: TableSpec, s: SandboxSpec): string {
  const T = `inet ${t.table}`;
  const { fwd, nat } = chainRules(t, s);
  return (
    [
      `add chain ${T} sb${s.index}`,
      `add chain ${T} sbn${s.index}`,
      ...dynSets(s).map((d) => `add set ${T} ${d.set} { type ipv4_addr; flags timeout; }`),
      ...fwd.map((r) => `add rule ${T} sb${s.index} ${r}`),
      ...nat.map((r) => `add rule ${T} sbn${s.index} ${r}`),
      `add element ${T} sources { ${q(s.veth)} . ${formatIPv4(s.address)} }`,
      `add element ${T} fwdmap { ${q(s.veth)} : jump sb${s.index} }`,
      `add element ${T} natmap { ${q(s.veth)} : jump sbn${s.index} }`,
    ].join('\n') + '\n'
  );
}

/** Replaces a sandbox's policy: new rules and sets in, old sets out, in one transaction. */
export function updateSandboxScript(t: TableSpec, previous: SandboxSpec, next: SandboxSpec): string {
  const T = `inet ${t.table}`;
  const { fwd, nat } = chainRules(t, next);
  return (
    [
      `flush chain ${T} sb${next.index}`,
      `flush chain ${T} sbn${next.index}`,
      ...dynSets(previous).map((d) => `delete set ${T} ${d.set}`),
      ...dynSets(next).map((d) => `add set ${T} ${d.set} { type ipv4_addr; flags timeout; }`),
      ...fwd.map((r) => `add rule ${T} sb${next.index} ${r}`),
      ...nat.map((r) => `add rule ${T} sbn${next.index} ${r}`),
    ].join('\n') + '\n'
  );
}

/** Unhooks a sandbox and removes its chains and sets. */
export function removeSandboxScript(t: TableSpec, s: SandboxSpec): string {
  const T = `inet ${t.table}`;
  return (
    [
      `delete element ${T} sources { ${q(s.veth)} . ${formatIPv4(s.address)} }`,
      `delete element ${T} fwdmap { ${q(s.veth)} }`,
      `delete element ${T} natmap { ${q(s.veth)} }`,
      `flush chain ${T} sb${s.index}`,
      `flush chain ${T} sbn${s.index}`,
      `delete chain ${T} sb${s.index}`,
      `delete chain ${T} sbn${s.index}`,
      ...dynSets(s).map((d) => `delete set ${T} ${d.set}`),
    ].join('\n') + '\n'
  );
}

/**
 * Puts addresses into a domain rule's set with a fresh timeout. add + delete + add makes the
 * timeout the new one whether or not the element was there (nft keeps an existing element's).
 */
export function dynElementsScript(t: TableSpec, set: string, addrs: readonly { address: number; timeoutSec: number }[]): string {
  const T = `inet ${t.table}`;
  return (
    addrs
      .map((a) => {
        const ip = formatIPv4(a.address);
        return [
          `add element ${T} ${set} { ${ip} }`,
          `delete element ${T} ${set} { ${ip} }`,
          `add element ${T} ${set} { ${ip} timeout ${Math.max(1, Math.round(a.timeoutSec))}s }`,
        ].join('\n');
      })
      .join('\n') + '\n'
  );
}
