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
 *   peerof / peers_<p>   peers (issue #12): sandbox address → jump peers_<p>, the chain of its project's
 *                        group, which accepts what goes to another address of the set peers_<p>
 *   prerouting (nat)     our veths → sbn_<n>: (peers: to its group, return) DNS on any address → the
 *                        platform DNS; proxied ports → the proxy
 *   forward (filter)     from our veths: IPv6 dropped, spoofing dropped, then peers of the same project
 *                        accepted, then only to uplinks, hard4 dropped, then sb_<n> (the policy);
 *                        to our veths: replies only
 *   input (filter)       from our veths: only the DNS and proxy listeners (never the API or another host service)
 *   postrouting (nat)    masquerade what leaves through an uplink
 * Chains, sets and map elements of a sandbox carry its index; the sets of domain rules (addresses
 * the platform DNS resolved, with timeouts) carry the policy generation, so an update creates new
 * ones instead of racing the old.
 */
import { projectTag } from '../project-tag.js';
import { formatCidr, formatIPv4, type Cidr } from './ipv4.js';
import { ALL_PORTS, nameMatches, PROTOCOLS, type Policy, type PortRange, type Protocol, type Rule } from './policy.js';

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
  /** The peer group (peersGroup) the sandbox belongs to: it chose peers "project"; undefined: "none". */
  peers?: string | undefined;
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

/** The name of a project's peer group: its set of member addresses and its chain. */
export function peersGroup(project: string): string {
  return `peers_${projectTag(project)}`;
}

/**
 * Creates a peer group, or resets its rule if it exists (flush + add in one transaction), so two
 * creates of the same group never leave the rule twice. The rule is the whole peer check: both
 * ends in the group (the source is already known to be a member: peerof sent it here, after the
 * anti-spoof check) and the packet leaves by one of our veths (so never to a host end or the host).
 */
export function addPeerGroupScript(t: TableSpec, group: string): string {
  const T = `inet ${t.table}`;
  return (
    [
      `add set ${T} ${group} { type ipv4_addr; }`,
      `add chain ${T} ${group}`,
      `flush chain ${T} ${group}`,
      `add rule ${T} ${group} ip saddr @${group} ip daddr @${group} oifname "${t.vethPrefix}*" accept`,
    ].join('\n') + '\n'
  );
}

/** Removes an empty peer group (after its last member's elements and nat rule went). */
export function removePeerGroupScript(t: TableSpec, group: string): string {
  const T = `inet ${t.table}`;
  return [`flush chain ${T} ${group}`, `delete chain ${T} ${group}`, `delete set ${T} ${group}`].join('\n') + '\n';
}

function joinPeers(T: string, s: SandboxSpec): string[] {
  if (s.peers === undefined) return [];
  const ip = formatIPv4(s.address);
  return [`add element ${T} ${s.peers} { ${ip} }`, `add element ${T} peerof { ${ip} : jump ${s.peers} }`];
}

function leavePeers(T: string, s: SandboxSpec): string[] {
  if (s.peers === undefined) return [];
  const ip = formatIPv4(s.address);
  return [`delete element ${T} peerof { ${ip} }`, `delete element ${T} ${s.peers} { ${ip} }`];
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
    `  map peerof { type ipv4_addr : verdict; }`,
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
    // Before the uplinks and hard4 drops, which would drop any sandbox-to-sandbox packet; both
    // directions of a flow match (replies of a peer flow come from one of our veths too).
    `    ip saddr vmap @peerof`,
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
  for (const g of new Set(sandboxes.flatMap((s) => (s.peers === undefined ? [] : [s.peers])))) lines.push(addPeerGroupScript(t, g));
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
  // A peer's own ports (DNS and the proxied ones included) are the peer's: no redirect to the
  // platform DNS or the proxy. Only with peers on, and only to the sandbox's own group.
  const nat = [...(s.peers === undefined ? [] : [`ip daddr @${s.peers} return`]), `meta l4proto { tcp, udp } th dport 53 redirect to :${t.dnsPort}`];
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

/** Creates a sandbox's chains and sets and hooks them in (its peer group must exist: addPeerGroupScript). */
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
      ...joinPeers(T, s),
    ].join('\n') + '\n'
  );
}

/**
 * Replaces a sandbox's policy: new rules and sets in, old sets out, peer group left and joined,
 * in one transaction (the next group must exist; the previous one is removed after it if empty).
 */
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
      ...(previous.peers === next.peers ? [] : [...leavePeers(T, previous), ...joinPeers(T, next)]),
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
      ...leavePeers(T, s),
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

/**
 * Puts back into a new policy's domain sets the addresses the platform DNS gave the sandbox for
 * names they match and that have not expired (`learned`: name → address → expiry, ms epoch).
 */
export function refillScript(t: TableSpec, sets: readonly DynSet[], learned: ReadonlyMap<string, ReadonlyMap<number, number>>, now: number): string {
  return sets
    .map((d) => {
      const addrs = [...learned]
        .filter(([name]) => nameMatches(d.rule.target, name))
        .flatMap(([, a]) => [...a].filter(([, exp]) => exp > now).map(([address, exp]) => ({ address, timeoutSec: (exp - now) / 1000 })));
      return addrs.length === 0 ? '' : dynElementsScript(t, d.set, addrs);
    })
    .join('');
}
