/**
 * @module dns-upstream
 * The resolvers the platform asks on a sandbox's behalf (`network.dnsUpstream`, by default the
 * host's resolv.conf), for the platform DNS and for the names the proxy dials. Only A questions
 * are ever sent, and only for names a policy allows; CNAME chains are followed by the resolver
 * library and never reach the sandbox.
 */
import { Resolver } from 'node:dns/promises';
import { parseIPv4 } from './ipv4.js';

export type Resolution =
  { kind: 'addresses'; addresses: { address: number; ttl: number }[] } | { kind: 'nxdomain' } | { kind: 'nodata' } | { kind: 'failed'; reason: string };

export interface Upstream {
  resolve4(name: string): Promise<Resolution>;
}

const CACHE_ENTRIES = 10_000;

/**
 * Answers are cached for their TTL (at most `maxTtl`), shared by every sandbox: the proxy resolves
 * the name of each connection it dials, and a round trip to the upstream per connection would be
 * most of the proxy's cost. Only address answers are cached.
 */
export class ResolverUpstream implements Upstream {
  readonly #resolver: Resolver;
  readonly #cache = new Map<string, { expires: number; addresses: { address: number; ttl: number }[] }>();
  maxTtl = 300;

  /** @param servers `1.2.3.4` or `1.2.3.4:5353` */
  constructor(servers: readonly string[], timeoutMs = 2000) {
    this.#resolver = new Resolver({ timeout: timeoutMs, tries: 2 });
    this.#resolver.setServers([...servers]);
  }

  async resolve4(name: string): Promise<Resolution> {
    const now = Date.now();
    const hit = this.#cache.get(name);
    if (hit && hit.expires > now) {
      const left = Math.max(1, Math.floor((hit.expires - now) / 1000));
      return { kind: 'addresses', addresses: hit.addresses.map((a) => ({ address: a.address, ttl: Math.min(a.ttl, left) })) };
    }
    try {
      const records = await this.#resolver.resolve4(name, { ttl: true });
      const addresses = records.flatMap((r) => {
        const a = parseIPv4(r.address);
        return a === undefined ? [] : [{ address: a, ttl: r.ttl }];
      });
      const ttl = Math.min(this.maxTtl, ...addresses.map((a) => a.ttl));
      if (addresses.length > 0 && ttl > 0) {
        this.#cache.delete(name);
        this.#cache.set(name, { expires: now + ttl * 1000, addresses });
        if (this.#cache.size > CACHE_ENTRIES) this.#cache.delete(this.#cache.keys().next().value!);
      }
      return { kind: 'addresses', addresses };
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === 'ENOTFOUND') return { kind: 'nxdomain' };
      if (code === 'ENODATA') return { kind: 'nodata' };
      return { kind: 'failed', reason: code ?? (e as Error).message };
    }
  }
}
