/**
 * @module deny-set
 * The platform's fixed deny set, in two tiers.
 *
 * Hard: never reachable from a sandbox, whatever its policy says: "this network", loopback,
 * link-local (which holds the cloud metadata address 169.254.169.254), Alibaba's metadata address
 * 100.100.100.200, multicast and reserved space, the sandbox subnet (other sandboxes and the host
 * ends of their links) and every address of the host itself (so the server's port and every other
 * host service).
 *
 * Private: RFC 1918, CGNAT (100.64/10) and the other non-public ranges. `all` never reaches them;
 * an allow entry that is an address or CIDR inside one of them does (`10.1.2.0/24:5432`), a domain
 * entry does not (a name that resolves to a private address is DNS rebinding until proven
 * otherwise).
 *
 * IPv6 has no tier: it is off inside sandboxes and every IPv6 packet from one is dropped.
 */
import { cidr, cidrContains, cidrWithin, formatCidr, type Cidr } from './ipv4.js';

/** The hard tier's fixed ranges (the host's addresses and the sandbox subnet are added per instance). */
export const HARD: readonly { net: Cidr; what: string }[] = [
  { net: cidr('0.0.0.0/8'), what: '"this network" (0.0.0.0/8)' },
  { net: cidr('127.0.0.0/8'), what: 'loopback' },
  { net: cidr('169.254.0.0/16'), what: 'link-local and the cloud metadata address' },
  { net: cidr('100.100.100.200'), what: 'a cloud metadata address' },
  { net: cidr('224.0.0.0/4'), what: 'multicast' },
  { net: cidr('240.0.0.0/4'), what: 'reserved space and broadcast' },
];

export const PRIVATE: readonly Cidr[] = [
  cidr('10.0.0.0/8'),
  cidr('172.16.0.0/12'),
  cidr('192.168.0.0/16'),
  cidr('100.64.0.0/10'),
  cidr('192.0.0.0/24'),
  cidr('198.18.0.0/15'),
];

export type DenyTier = 'hard' | 'private';

export class PlatformDenySet {
  readonly hard: readonly { net: Cidr; what: string }[];
  readonly private: readonly Cidr[] = PRIVATE;

  /**
   * @param sandboxSubnet the range sandbox links are cut from
   * @param hostAddresses every IPv4 address of the host, read when the table is (re)built
   */
  constructor(sandboxSubnet: Cidr, hostAddresses: readonly number[]) {
    this.hard = [
      ...HARD,
      { net: sandboxSubnet, what: 'the sandbox network (other sandboxes and the host)' },
      ...hostAddresses.map((a) => ({ net: { base: a, bits: 32 }, what: 'an address of the host' })),
    ];
  }

  tierOf(addr: number): DenyTier | undefined {
    if (this.hard.some((h) => cidrContains(h.net, addr))) return 'hard';
    if (this.private.some((p) => cidrContains(p, addr))) return 'private';
    return undefined;
  }

  /** Why an allow entry for `net` can never take effect, or undefined if it can. */
  refuseAllow(net: Cidr): string | undefined {
    const h = this.hard.find((x) => cidrWithin(net, x.net));
    return h ? `${formatCidr(net)} is ${h.what}, which no policy can allow` : undefined;
  }

  /** Whether `net` lies inside a private range (so an allow entry for it lifts the private tier there). */
  isPrivate(net: Cidr): boolean {
    return this.private.some((p) => cidrWithin(net, p));
  }
}
