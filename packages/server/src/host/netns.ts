/**
 * @module netns
 * A sandbox's network namespace and its veth pair to the host: `eth0` inside, a host end named by
 * the server instance and the sandbox's index, a /30 between them. Two processes per sandbox (an
 * `ip` batch on the host, an `nsenter` into the new namespace for its side), because a process
 * per `ip` call costs more than the whole rest of the attach.
 *
 * Inside, IPv6 is turned off (all, default, so also for loopback); on the host end too, so it never
 * gets a link-local address. The host end forwards IPv4; the nft table decides what.
 */
import { existsSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { checkCommand, runCommand } from './command.js';

export const NETNS_DIR = '/run/netns';

export interface LinkPlan {
  /** Name under /run/netns. */
  netns: string;
  hostVeth: string;
  hostAddress: string;
  sandboxAddress: string;
  prefixLength: number;
}

export function netnsPath(name: string): string {
  return `${NETNS_DIR}/${name}`;
}

const SAFE = /^[A-Za-z0-9_.-]{1,64}$/;

function assertSafe(p: LinkPlan): void {
  for (const v of [p.netns, p.hostVeth, p.hostAddress, p.sandboxAddress]) {
    if (!SAFE.test(v)) throw new Error(`netns: refusing unsafe name ${JSON.stringify(v)}`);
  }
  if (p.hostVeth.length > 15) throw new Error(`netns: interface name ${p.hostVeth} is longer than 15 characters`);
}

/** Creates the namespace and the link; on failure removes what it made and throws. */
export async function createSandboxLink(p: LinkPlan): Promise<void> {
  assertSafe(p);
  const host = [
    `netns add ${p.netns}`,
    `link add ${p.hostVeth} type veth peer name eth0 netns ${p.netns}`,
    `addr add ${p.hostAddress}/${p.prefixLength} dev ${p.hostVeth}`,
  ].join('\n');
  const inside = [
    `addr add ${p.sandboxAddress}/${p.prefixLength} dev eth0`,
    'link set lo up',
    'link set eth0 up',
    `route add default via ${p.hostAddress}`,
  ].join('\n');
  try {
    await checkCommand(['ip', '-b', '-'], { input: `${host}\n`, timeoutMs: 10_000 });
    // Set before the link comes up, so the host end never gets an IPv6 link-local address.
    writeFileSync(`/proc/sys/net/ipv6/conf/${p.hostVeth}/disable_ipv6`, '1');
    writeFileSync(`/proc/sys/net/ipv4/conf/${p.hostVeth}/forwarding`, '1');
    await checkCommand(['ip', 'link', 'set', p.hostVeth, 'up'], { timeoutMs: 10_000 });
    await checkCommand(
      [
        'nsenter',
        `--net=${netnsPath(p.netns)}`,
        'sh',
        '-c',
        'echo 1 > /proc/sys/net/ipv6/conf/all/disable_ipv6 && echo 1 > /proc/sys/net/ipv6/conf/default/disable_ipv6 && exec ip -b -',
      ],
      { input: `${inside}\n`, timeoutMs: 10_000 },
    );
  } catch (e) {
    await deleteSandboxLink(p);
    throw e;
  }
}

/**
 * Removes the link and the namespace; idempotent. The host end goes first: deleting a namespace
 * frees its devices only when the kernel gets round to it, and the name would linger till then.
 */
export async function deleteSandboxLink(p: Pick<LinkPlan, 'netns' | 'hostVeth'>): Promise<void> {
  if (p.hostVeth !== '' && existsSync(`/sys/class/net/${p.hostVeth}`)) await runCommand(['ip', 'link', 'del', p.hostVeth], { timeoutMs: 10_000 });
  if (p.netns !== '' && existsSync(netnsPath(p.netns))) {
    const r = await runCommand(['ip', 'netns', 'del', p.netns], { timeoutMs: 10_000 });
    if (r.code !== 0 && existsSync(netnsPath(p.netns))) throw new Error(`ip netns del ${p.netns}: ${r.stderr.trim()}`);
  }
}

/** Namespaces under /run/netns whose name starts with `prefix`. */
export function listNetns(prefix: string): string[] {
  try {
    return readdirSync(NETNS_DIR).filter((n) => n.startsWith(prefix));
  } catch {
    return [];
  }
}

/** Interfaces of the host's namespace whose name starts with `prefix`. */
export function listLinks(prefix: string): string[] {
  return readdirSync('/sys/class/net').filter((n) => n.startsWith(prefix));
}

/** Turns on IPv4 forwarding on one host interface (the uplinks: replies to masqueraded traffic come in there). */
export function enableForwarding(iface: string): void {
  if (!SAFE.test(iface)) throw new Error(`netns: refusing unsafe interface name ${JSON.stringify(iface)}`);
  writeFileSync(`/proc/sys/net/ipv4/conf/${iface}/forwarding`, '1');
}

/** Interfaces that hold a default route in the host's main table (the uplinks when none are configured). */
export function defaultRouteInterfaces(): string[] {
  try {
    return readFileSync('/proc/net/route', 'utf8')
      .split('\n')
      .slice(1)
      .map((l) => l.trim().split(/\s+/))
      .filter((f) => f.length > 2 && f[1] === '00000000')
      .map((f) => f[0]!);
  } catch {
    return [];
  }
}
