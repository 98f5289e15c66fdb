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
  | { kind: 'addresses'; addresses: { address: number; ttl: number }[] }
  | { kind: 'nxdomain' }
  | { kind: 'nodata' }
  | { kind: 'failed'; reason: string };

export interface Upstream {
  resolve4(name: string): Promise<Resolution>;
}

export class ResolverUpstream implements Upstream {
  readonly #resolver: Resolver;

  /** @param servers `1.2.3.4` or `1.2.3.4:5353` */
  constructor(servers: readonly string[], timeoutMs = 2000) {
    this.#resolver = new Resolver({ timeout: timeoutMs, tries: 2 });
    this.#resolver.setServers([...servers]);
  }

  async resolve4(name: string): Promise<Resolution> {
    try {
      const records = await this.#resolver.resolve4(name, { ttl: true });
      const addresses = records.flatMap((r) => {
        const a = parseIPv4(r.address);
        return a === undefined ? [] : [{ address: a, ttl: r.ttl }];
      });
      return { kind: 'addresses', addresses };
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === 'ENOTFOUND') return { kind: 'nxdomain' };
      if (code === 'ENODATA') return { kind: 'nodata' };
      return { kind: 'failed', reason: code ?? (e as Error).message };
    }
  }
}
