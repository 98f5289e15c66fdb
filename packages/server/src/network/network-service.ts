/**
 * @module network-service
 * The sandbox networks of one server instance: attach (namespace, veth, nft chains, optional
 * bandwidth cap) before a runtime starts the sandbox, update the policy of a running one, detach
 * on teardown; plus the platform DNS and the egress proxy that every attached sandbox is
 * redirected to, and each sandbox's audit ring.
 *
 * Every nft change is one transaction: a policy that fails to parse never reaches the host, and
 * one that nft rejects leaves the previous one in force. A sandbox's nft work is serialised (an
 * answer's addresses never land in a set an update just replaced).
 */
import type { NetworkEvent, NetworkSettings, NetworkState } from '@airlock/protocol';
import { ErrorCode } from '@airlock/protocol/errors';
import { AirlockError } from '../errors.js';
import { forgetFlows } from '../host/conntrack.js';
import {
  createSandboxLink,
  defaultRouteInterfaces,
  deleteSandboxLink,
  enableForwarding,
  hostIPv4Addresses,
  listLinks,
  listNetns,
  netnsPath,
  type LinkPlan,
} from '../host/netns.js';
import { nftApply, nftDeleteTable } from '../host/nft.js';
import { setBandwidth } from '../host/tc.js';
import { AddressPlan } from './address-plan.js';
import { AuditRing } from './audit.js';
import { PlatformDenySet } from './deny-set.js';
import { PlatformDns } from './dns-server.js';
import { ResolverUpstream, type Upstream } from './dns-upstream.js';
import { EgressProxy, type ProxiedConnection } from './egress-proxy.js';
import { cidrContains, formatCidr, parseIPv4, type Cidr } from './ipv4.js';
import {
  addSandboxScript,
  dynElementsScript,
  dynSets,
  peersGroup,
  refillScript,
  removeSandboxScript,
  tableScript,
  updateSandboxScript,
  type SandboxSpec,
  type TableSpec,
} from './nft-ruleset.js';
import { PeerGroups } from './peer-groups.js';
import { nameMatches, parsePolicy, type Policy } from './policy.js';
import { TokenBucket } from './token-bucket.js';

export interface NetworkOptions {
  tag: string;
  subnet: Cidr;
  dnsUpstream: readonly string[];
  /** Interfaces sandbox traffic may leave by; undefined: those with a default route. */
  uplinks: readonly string[] | undefined;
  proxyPorts: { http: readonly number[]; tls: readonly number[] };
  ttl: { min: number; max: number };
  dnsRate: { perSecond: number; burst: number };
  /** Added to a resolved address's TTL in nft, so a connection can start after the answer. */
  setGraceSec: number;
  log: { warn(o: object, msg: string): void; error(o: object, msg: string): void };
  /** Replaces the upstream resolver (tests). */
  upstream?: Upstream;
}

/** What a runtime needs to put a sandbox into its network. */
export interface Attachment {
  id: string;
  index: number;
  netnsPath: string;
  address: string;
  hostAddress: string;
}

/** What the store keeps so that a restarted server can take a sandbox's network back. */
export interface AttachmentRecord {
  id: string;
  index: number;
  settings: NetworkSettings;
  /** Whose peers it may reach (with settings.peers "project"). */
  project: string;
}

interface Entry {
  id: string;
  link: LinkPlan & { index: number; sandboxAddressNumber: number };
  settings: NetworkSettings;
  project: string;
  /** Its peer group (peers "project"), as the table holds it; undefined: peers "none". */
  peers: string | undefined;
  policy: Policy;
  generation: number;
  audit: AuditRing;
  questions: TokenBucket;
  connections: Set<ProxiedConnection>;
  /** Addresses the platform DNS gave this sandbox, per name, with their expiry (ms epoch). */
  learned: Map<string, Map<number, number>>;
  queue: Promise<unknown>;
}

export class NetworkService {
  readonly plan: AddressPlan;
  readonly #byId = new Map<string, Entry>();
  readonly #byAddress = new Map<string, Entry>();
  readonly #upstream: Upstream;
  #denySet: PlatformDenySet;
  #table!: TableSpec;
  #dns!: PlatformDns;
  #proxy!: EgressProxy;
  readonly #groups = new PeerGroups();
  /** Told each egress decision of any sandbox (metrics count them by kind and verdict). */
  onVerdict: ((kind: string, verdict: string) => void) | undefined;

  private constructor(private readonly o: NetworkOptions) {
    this.plan = new AddressPlan(o.tag, o.subnet);
    if (o.upstream) this.#upstream = o.upstream;
    else {
      const u = new ResolverUpstream(o.dnsUpstream);
      u.maxTtl = o.ttl.max;
      this.#upstream = u;
    }
    this.#denySet = new PlatformDenySet(o.subnet, hostAddresses(this.o.subnet));
  }

  /** Binds the DNS server and the proxy listeners and (re)builds the table with the given sandboxes. */
  static async start(o: NetworkOptions, restore: readonly AttachmentRecord[] = []): Promise<NetworkService> {
    const s = new NetworkService(o);
    await s.#listen();
    await s.#restore(restore);
    return s;
  }

  get tableName(): string {
    return this.plan.table;
  }

  async #listen(): Promise<void> {
    const onError = (e: unknown) => this.o.log.error({ err: e }, 'network: listener error');
    const sandboxFor = (a: string) => this.#byAddress.get(a);
    this.#dns = new PlatformDns({
      sandboxFor: (a) => {
        const e = sandboxFor(a);
        return e && { id: e.id, policy: () => e.policy, audit: e.audit, questions: e.questions, learned: (n, addrs) => this.#learned(e, n, addrs) };
      },
      upstream: this.#upstream,
      denySet: () => this.#denySet,
      ttl: this.o.ttl,
      onError,
    });
    this.#proxy = new EgressProxy({
      sandboxFor: (a) => {
        const e = sandboxFor(a);
        return e && { id: e.id, policy: () => e.policy, audit: e.audit, connections: e.connections };
      },
      upstream: this.#upstream,
      denySet: () => this.#denySet,
      onError,
    });
    const dnsPort = await this.#dns.listen();
    const proxied: { port: number; listen: number }[] = [];
    for (const port of this.o.proxyPorts.http) proxied.push({ port, listen: await this.#proxy.listen('http', port) });
    for (const port of this.o.proxyPorts.tls) proxied.push({ port, listen: await this.#proxy.listen('tls', port) });
    const uplinks = this.o.uplinks ?? defaultRouteInterfaces();
    for (const u of uplinks) enableForwarding(u);
    this.#table = {
      table: this.plan.table,
      vethPrefix: this.plan.vethPrefix,
      dnsPort,
      proxied,
      hard: this.#denySet.hard.map((h) => h.net),
      private: this.#denySet.private,
      uplinks,
    };
  }

  async #restore(records: readonly AttachmentRecord[]): Promise<void> {
    for (const r of records) {
      const link = this.plan.link(r.index, r.id);
      const entry = this.#entry(r.id, link, r.settings, r.project);
      this.#byId.set(r.id, entry);
      this.#byAddress.set(link.sandboxAddress, entry);
    }
    await this.#rebuild([...this.#byId.values()]);
  }

  /** Replaces the whole table with these sandboxes' rules; the peer groups are then theirs. */
  #rebuild(entries: readonly Entry[]): Promise<void> {
    return this.#groups.run(true, async () => {
      const specs = entries.map(spec);
      await nftApply(tableScript(this.#table, specs));
      this.#groups.reset(specs);
    });
  }

  #entry(id: string, link: Entry['link'], settings: NetworkSettings, project: string): Entry {
    return {
      id,
      link,
      settings,
      project,
      peers: settings.peers === 'project' ? peersGroup(project) : undefined,
      policy: parsePolicy(settings.egress, this.#denySet),
      generation: 0,
      audit: new AuditRing(undefined, (e) => this.onVerdict?.(e.kind, e.verdict)),
      questions: new TokenBucket(this.o.dnsRate.perSecond, this.o.dnsRate.burst),
      connections: new Set(),
      learned: new Map(),
      queue: Promise.resolve(),
    };
  }

  /** Validates settings without touching the host (throws invalid_request naming the entry). */
  validate(settings: NetworkSettings): void {
    parsePolicy(settings.egress, this.#denySet);
  }

  /** Creates the sandbox's namespace, link and rules (its peers: of `project`). On failure nothing of it is left. */
  async attach(id: string, settings: NetworkSettings, project = 'default'): Promise<Attachment> {
    if (this.#byId.has(id)) throw new Error(`network: ${id} is attached already`);
    this.#refreshHostAddresses();
    const index = this.#freeIndex();
    const link = this.plan.link(index, id);
    const entry = this.#entry(id, link, settings, project);
    // Reserve the index before the first await, so two attaches never share one.
    this.#byId.set(id, entry);
    try {
      // Independent: nft names the veth by string, so the rules can go in while the link is made.
      const s = spec(entry);
      const rules = this.#groups.run(s.peers !== undefined, () => this.#groups.apply(this.#table, undefined, s, addSandboxScript(this.#table, s)));
      const results = await Promise.allSettled([createSandboxLink(link), rules]);
      for (const r of results) if (r.status === 'rejected') throw r.reason;
      if (settings.bandwidthMbit !== null) await setBandwidth(link.hostVeth, settings.bandwidthMbit);
    } catch (e) {
      this.#byId.delete(id);
      await this.#removeHostObjects(entry).catch((err) => this.o.log.error({ err, id }, 'network: cleanup after a failed attach failed'));
      throw new AirlockError(ErrorCode.RuntimeError, `could not set up the sandbox's network: ${(e as Error).message}`, { cause: e });
    }
    this.#byAddress.set(link.sandboxAddress, entry);
    return attachment(entry);
  }

  /** Replaces a running sandbox's policy, peers and cap (and project: at a pool's claim). A failure leaves the old in force. */
  async update(id: string, settings: NetworkSettings, project?: string): Promise<NetworkState> {
    const e = this.#byId.get(id);
    if (!e) throw new AirlockError(ErrorCode.InvalidState, `sandbox ${id} has no network to update (it was created without one, or is gone)`);
    const policy = parsePolicy(settings.egress, this.#denySet);
    await this.#serial(e, async () => {
      const prev = spec(e);
      const next: SandboxSpec = {
        ...prev,
        policy,
        generation: e.generation + 1,
        peers: settings.peers === 'project' ? peersGroup(project ?? e.project) : undefined,
      };
      const script = updateSandboxScript(this.#table, prev, next) + refillScript(this.#table, dynSets(next), e.learned, Date.now());
      await this.#groups.run(prev.peers !== next.peers, () => this.#groups.apply(this.#table, prev, next, script));
      e.project = project ?? e.project;
      e.peers = next.peers;
      e.policy = policy;
      e.generation = next.generation;
      if (settings.bandwidthMbit !== e.settings.bandwidthMbit) await setBandwidth(e.link.hostVeth, settings.bandwidthMbit);
      e.settings = settings;
      this.#proxy.revalidate({ id, policy: () => e.policy, audit: e.audit, connections: e.connections });
      await forgetFlows(e.link.sandboxAddress);
    });
    return this.state(id)!;
  }

  /** Removes everything of the sandbox's network; idempotent. */
  async detach(id: string): Promise<void> {
    const e = this.#byId.get(id);
    if (!e) return;
    this.#byAddress.delete(e.link.sandboxAddress);
    for (const c of e.connections) c.close();
    await this.#serial(e, () => this.#removeHostObjects(e));
    this.#byId.delete(id);
  }

  async #removeHostObjects(e: Entry): Promise<void> {
    const s = spec(e);
    const rules = this.#groups
      .run(s.peers !== undefined, () => this.#groups.apply(this.#table, s, undefined, removeSandboxScript(this.#table, s)))
      .catch(() =>
        // Half-made (a failed attach) or already gone: rebuild the table without it.
        this.#rebuild([...this.#byId.values()].filter((x) => x !== e)),
      );
    const results = await Promise.allSettled([rules, deleteSandboxLink(e.link)]);
    for (const r of results) if (r.status === 'rejected') throw r.reason;
  }

  state(id: string): NetworkState | undefined {
    const e = this.#byId.get(id);
    return (
      e && {
        egress: e.settings.egress,
        peers: e.settings.peers,
        bandwidthMbit: e.settings.bandwidthMbit,
        publicPorts: e.settings.publicPorts,
        address: e.link.sandboxAddress,
      }
    );
  }

  /** The host end of the sandbox's veth (its counters are the sandbox's traffic, seen from the host). */
  hostLinkOf(id: string): string | undefined {
    return this.#byId.get(id)?.link.hostVeth;
  }

  attachmentOf(id: string): Attachment | undefined {
    const e = this.#byId.get(id);
    return e && attachment(e);
  }

  records(): AttachmentRecord[] {
    return [...this.#byId.values()].map((e) => ({ id: e.id, index: e.link.index, settings: e.settings, project: e.project }));
  }

  events(id: string, since = 0): { events: NetworkEvent[]; dropped: number } | undefined {
    return this.#byId.get(id)?.audit.list(since);
  }

  /** Namespaces and host veths of this instance that no attached sandbox owns (leaks, crash leftovers). */
  orphans(): { netns: string[]; links: string[] } {
    const ns = new Set([...this.#byId.values()].map((e) => e.link.netns));
    const links = new Set([...this.#byId.values()].map((e) => e.link.hostVeth));
    return {
      netns: listNetns(this.plan.netnsPrefix).filter((n) => !ns.has(n)),
      links: listLinks(this.plan.vethPrefix).filter((l) => !links.has(l)),
    };
  }

  /** Removes orphans (after reconciliation decided which sandboxes live). */
  async sweep(): Promise<void> {
    const o = this.orphans();
    for (const l of o.links) await deleteSandboxLink({ hostVeth: l, netns: '' }).catch(() => {});
    for (const n of o.netns) await deleteSandboxLink({ hostVeth: '', netns: n }).catch(() => {});
  }

  /**
   * Stops the listeners. With `removeTable` (no sandbox of ours is left) the table goes too;
   * otherwise it stays, so sandboxes that outlive the server keep their policy (and, with the
   * listeners gone, lose DNS and the proxy: closed, not open).
   */
  async close(options: { removeTable?: boolean } = {}): Promise<void> {
    await this.#proxy.close();
    await this.#dns.close();
    if (options.removeTable) await nftDeleteTable(this.plan.table);
  }

  #serial<T>(e: Entry, fn: () => Promise<T>): Promise<T> {
    const run = e.queue.then(fn, fn);
    e.queue = run.catch(() => {});
    return run;
  }

  #freeIndex(): number {
    const used = new Set([...this.#byId.values()].map((e) => e.link.index));
    for (let i = 0; i < this.plan.capacity; i++) if (!used.has(i)) return i;
    throw new AirlockError(ErrorCode.Capacity, `the sandbox subnet has room for ${this.plan.capacity} networks, all in use`);
  }

  /** The host's own addresses are in the hard deny set; an address that appeared since goes in with the next attach. */
  #refreshHostAddresses(): void {
    const next = new PlatformDenySet(this.o.subnet, hostAddresses(this.o.subnet));
    if (next.hard.length === this.#denySet.hard.length && next.hard.every((h, i) => h.net.base === this.#denySet.hard[i]!.net.base)) return;
    this.#denySet = next;
    this.#table = { ...this.#table, hard: next.hard.map((h) => h.net) };
    void nftApply(
      `flush set inet ${this.#table.table} hard4\nadd element inet ${this.#table.table} hard4 { ${this.#table.hard.map(formatCidr).join(', ')} }\n`,
    ).catch((err) => this.o.log.error({ err }, 'network: could not refresh the host addresses in the deny set'));
  }

  async #learned(e: Entry, name: string, addrs: readonly { address: number; ttl: number }[]): Promise<void> {
    if (addrs.length === 0) return;
    const now = Date.now();
    const known = e.learned.get(name) ?? new Map<number, number>();
    for (const a of addrs) known.set(a.address, Math.max(known.get(a.address) ?? 0, now + (a.ttl + this.o.setGraceSec) * 1000));
    for (const [a, exp] of known) if (exp <= now) known.delete(a);
    e.learned.set(name, known);
    if (e.learned.size > 4096) e.learned.delete(e.learned.keys().next().value!);
    await this.#serial(e, async () => {
      const sets = dynSets(spec(e)).filter((d) => nameMatches(d.rule.target, name));
      if (sets.length === 0 || !this.#byId.has(e.id)) return;
      const items = addrs.map((a) => ({ address: a.address, timeoutSec: a.ttl + this.o.setGraceSec }));
      await nftApply(sets.map((d) => dynElementsScript(this.#table, d.set, items)).join(''));
    });
  }
}

function spec(e: Entry): SandboxSpec {
  return {
    index: e.link.index,
    veth: e.link.hostVeth,
    address: e.link.sandboxAddressNumber,
    policy: e.policy,
    generation: e.generation,
    peers: e.peers,
  };
}

function attachment(e: Entry): Attachment {
  return { id: e.id, index: e.link.index, netnsPath: netnsPath(e.link.netns), address: e.link.sandboxAddress, hostAddress: e.link.hostAddress };
}

/** IPv4 addresses of the host's interfaces, except the host ends of sandbox links (the subnet is denied whole). */
function hostAddresses(subnet: Cidr): number[] {
  const all = hostIPv4Addresses().map(parseIPv4);
  return [...new Set(all.filter((n): n is number => n !== undefined && !cidrContains(subnet, n)))].sort((a, b) => a - b);
}
