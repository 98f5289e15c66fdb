/**
 * @module webhook-target
 * Where a webhook may deliver. A webhook is registered by a project key, and its POST leaves from
 * the server's own network position: unchecked, any tenant could make the server reach loopback
 * services, the cloud metadata address or the operator's private network (server-side request
 * forgery). So by default a delivery goes only to public addresses:
 *
 * - at registration, a URL whose host is an address literal outside public space is refused;
 * - at delivery, a name is resolved by the server and every address it gives is checked; the
 *   connection goes to the first public one, so a name that later resolves to 127.0.0.1 (DNS
 *   rebinding) reaches nothing.
 *
 * `observe.webhookPrivateTargets: true` lifts the check for installations whose receivers live on
 * a private network (and for the tests, whose receivers listen on loopback).
 */
import { lookup as dnsLookup, type LookupAddress } from 'node:dns';
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { isIP, type LookupFunction } from 'node:net';
import { HARD, PRIVATE } from '../network/deny-set.js';
import { cidrContains, parseIPv4, type Cidr } from '../network/ipv4.js';

/** What a sandbox may never reach, and the private ranges: neither is a webhook's to reach either. */
const NOT_PUBLIC_V4: readonly { net: Cidr; what: string }[] = [...HARD, ...PRIVATE.map((net) => ({ net, what: 'a private or shared range' }))];

/** Why an address is not public (`"loopback"`, …), or undefined for a public one. */
export function notPublic(address: string): string | undefined {
  const v4 = parseIPv4(address);
  if (v4 !== undefined) return NOT_PUBLIC_V4.find((r) => cidrContains(r.net, v4))?.what;
  if (isIP(address) !== 6) return 'not an address';
  const g = groups(address);
  const quad = (hi: number, lo: number) => `${hi >> 8}.${hi & 255}.${lo >> 8}.${lo & 255}`;
  // Forms that carry an IPv4 address (mapped, NAT64, 6to4) are judged by it.
  if (g.slice(0, 5).every((x) => x === 0) && g[5] === 0xffff) return notPublic(quad(g[6]!, g[7]!));
  if (g[0] === 0x64 && g[1] === 0xff9b && g.slice(2, 6).every((x) => x === 0)) return notPublic(quad(g[6]!, g[7]!));
  if (g[0] === 0x2002) return notPublic(quad(g[1]!, g[2]!));
  if (g.slice(0, 6).every((x) => x === 0)) return g[6] === 0 && g[7] === 1 ? 'loopback' : 'unspecified or IPv4-compatible (deprecated)';
  if ((g[0]! & 0xffc0) === 0xfe80) return 'link-local';
  if ((g[0]! & 0xfe00) === 0xfc00) return 'private (unique local)';
  if ((g[0]! & 0xff00) === 0xff00) return 'multicast';
  return undefined;
}

/** The eight 16-bit groups of a valid IPv6 address (a trailing dotted quad included). */
function groups(address: string): number[] {
  let a = address.toLowerCase();
  const quad = /(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(a);
  if (quad) {
    const [b0, b1, b2, b3] = quad.slice(1).map(Number) as [number, number, number, number];
    a = `${a.slice(0, quad.index)}${((b0 << 8) | b1).toString(16)}:${((b2 << 8) | b3).toString(16)}`;
  }
  const [head, tail] = a.split('::') as [string, string | undefined];
  const h = head ? head.split(':') : [];
  const t = tail ? tail.split(':') : [];
  const fill = tail === undefined ? [] : Array<string>(8 - h.length - t.length).fill('0');
  return [...h, ...fill, ...t].map((x) => parseInt(x, 16));
}

/** For registration: why this URL's host, if it is an address literal, may not be a target. */
export function refuseLiteral(url: URL): string | undefined {
  const host = url.hostname.replace(/^\[(.*)\]$/, '$1');
  if (isIP(host) === 0) return undefined;
  const why = notPublic(host);
  return why ? `${host} is ${why}, and webhooks deliver only to public addresses (observe.webhookPrivateTargets allows others)` : undefined;
}

/** A `lookup` for http.request that answers only public addresses of the name. */
export const publicLookup: LookupFunction = (hostname, options, callback) => {
  dnsLookup(hostname, { ...options, all: true }, (err, addresses) => {
    if (err) return callback(err, '', 0);
    const all = addresses as unknown as LookupAddress[];
    const ok = all.filter((a) => notPublic(a.address) === undefined);
    if (ok.length === 0) {
      const e = Object.assign(
        new Error(`${hostname} resolves only to addresses that are not public (${all.map((a) => `${a.address}: ${notPublic(a.address)}`).join(', ')})`),
        { code: 'ENOTPUBLIC' },
      );
      return callback(e, '', 0);
    }
    if ((options as { all?: boolean }).all) return (callback as unknown as (e: null, a: LookupAddress[]) => void)(null, ok);
    callback(null, ok[0]!.address, ok[0]!.family);
  });
};

/**
 * One POST of a delivery; resolves to the target's status. Redirects are not followed (a 3xx is an
 * answer like any other), and the answer's body is not read.
 */
export function post(target: string, headers: Record<string, string>, body: string, signal: AbortSignal, privateTargets: boolean): Promise<number> {
  const url = new URL(target);
  if (!privateTargets) {
    const why = refuseLiteral(url);
    if (why) return Promise.reject(Object.assign(new Error(why), { code: 'ENOTPUBLIC' }));
  }
  const send = url.protocol === 'https:' ? httpsRequest : httpRequest;
  return new Promise((resolve, reject) => {
    const req = send(
      url,
      {
        method: 'POST',
        headers: { ...headers, 'content-length': String(Buffer.byteLength(body)) },
        signal,
        ...(privateTargets ? {} : { lookup: publicLookup }),
      },
      (res) => {
        res.resume();
        res.destroy();
        resolve(res.statusCode ?? 0);
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}
