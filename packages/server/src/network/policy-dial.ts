/**
 * @module policy-dial
 * How the proxy reaches a destination: by the *name* the sandbox asked for, resolved on the host
 * through the platform's upstream, with every address checked against the deny set and the policy
 * before connect(). So an SNI or Host that names an allowed domain cannot steer the connection to
 * another address, and a name that resolves into the host or a private range goes nowhere.
 */
import type { LookupAddress } from 'node:dns';
import type { PlatformDenySet } from './deny-set.js';
import type { Upstream } from './dns-upstream.js';
import { formatIPv4 } from './ipv4.js';
import { checkAddress, type Policy } from './policy.js';

type LookupCallback = (err: NodeJS.ErrnoException | null, address: string | LookupAddress[], family?: number) => void;

/** A `lookup` for net.connect / http.request that only ever yields addresses the policy allows on `port`. */
export function policyLookup(upstream: Upstream, denySet: () => PlatformDenySet, policy: () => Policy, port: number, onDenied: (reason: string) => void) {
  return (hostname: string, options: { all?: boolean } | number, callback: LookupCallback): void => {
    void upstream.resolve4(hostname).then((r) => {
      const fail = (reason: string) => {
        onDenied(reason);
        const e: NodeJS.ErrnoException = new Error(`${hostname}: ${reason}`);
        e.code = 'ENOTFOUND';
        callback(e, '');
      };
      if (r.kind !== 'addresses' || r.addresses.length === 0) return fail(r.kind === 'failed' ? `resolution failed: ${r.reason}` : 'no address');
      const deny = denySet();
      const ok = r.addresses.filter((a) => checkAddress(policy(), deny, a.address, port, 'tcp').allowed).map((a) => formatIPv4(a.address));
      if (ok.length === 0) return fail('every address of the name is denied (deny set or policy)');
      if (typeof options === 'object' && options.all)
        callback(
          null,
          ok.map((address) => ({ address, family: 4 })),
        );
      else callback(null, ok[0]!, 4);
    });
  };
}
