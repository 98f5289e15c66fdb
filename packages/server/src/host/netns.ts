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
import { networkInterfaces } from 'node:os';
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

/**
 * Creates the namespace and the link in one process (a shell running two `ip` batches, the
 * sysctls and an nsenter), since each process costs more than the work; on failure removes what it
 * made and throws. The host end's IPv6 is turned off before the link comes up, so it never gets a
 * link-local address.
 */
export async function createSandboxLink(p: LinkPlan): Promise<void> {
  assertSafe(p);
  const script = [
    'set -e',
    `ip -b - <<'EOF'\nnetns add ${p.netns}\nlink add ${p.hostVeth} type veth peer name eth0 netns ${p.netns}\naddr add ${p.hostAddress}/${p.prefixLength} dev ${p.hostVeth}\nEOF`,
    `echo 1 > /proc/sys/net/ipv6/conf/${p.hostVeth}/disable_ipv6`,
    `echo 1 > /proc/sys/net/ipv4/conf/${p.hostVeth}/forwarding`,
    `ip link set ${p.hostVeth} up`,
    `nsenter --net=${netnsPath(p.netns)} sh -c 'echo 1 > /proc/sys/net/ipv6/conf/all/disable_ipv6 && echo 1 > /proc/sys/net/ipv6/conf/default/disable_ipv6 && exec ip -b -' <<'EOF'`,
    `addr add ${p.sandboxAddress}/${p.prefixLength} dev eth0\nlink set lo up\nlink set eth0 up\nroute add default via ${p.hostAddress}\nEOF`,
  ].join('\n');
  try {
    await checkCommand(['/bin/sh', '-c', script], { timeoutMs: 10_000 });
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
  const steps: string[] = [];
  if (p.hostVeth !== '' && existsSync(`/sys/class/net/${p.hostVeth}`)) steps.push(`ip link del ${p.hostVeth}`);
  if (p.netns !== '' && existsSync(netnsPath(p.netns))) steps.push(`ip netns del ${p.netns}`);
  for (const v of [p.hostVeth, p.netns]) if (v !== '' && !SAFE.test(v)) throw new Error(`netns: refusing unsafe name ${JSON.stringify(v)}`);
  if (steps.length === 0) return;
  // One process for both; whether each went is checked on the host, not by exit codes.
  const r = await runCommand(['/bin/sh', '-c', steps.map((x) => `${x} 2>&1`).join('; ')], { timeoutMs: 10_000 });
  if (p.netns !== '' && existsSync(netnsPath(p.netns))) throw new Error(`ip netns del ${p.netns}: ${r.stdout.trim()}`);
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

/** The IPv4 addresses of the host's interfaces, as the kernel lists them. */
export function hostIPv4Addresses(): string[] {
  return Object.values(networkInterfaces()).flatMap((list) => (list ?? []).filter((a) => a.family === 'IPv4').map((a) => a.address));
}
