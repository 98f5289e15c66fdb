/**
 * @module network
 * What a sandbox network costs, against the same things without it, all in one run on the rig
 * (the tests' own internet in namespaces, packages/testkit/src/net-rig.ts):
 *   - create of a runc sandbox with a network (egress none) against one without;
 *   - connection setup from a sandbox namespace through the policy against an unfiltered namespace
 *     (a veth to the same host, no nft of ours): the CIDR path (connect + one round trip) and the
 *     proxy path (an HTTP GET through the transparent proxy, by name);
 *   - bulk throughput through the TLS proxy against the same transfer direct.
 */
import { execFile, spawnSync } from 'node:child_process';
import { randomBytes, randomInt } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Airlock } from '@airlock/sdk';
import { startServer } from '@airlock/server';
import { NetRig, RIG } from '@airlock/testkit/net-rig.js';
import type { Row } from './report.js';
import { summarize, timeIt } from './stats.js';

const HERE = fileURLToPath(new URL('.', import.meta.url));
const MiB = 1024 * 1024;

function ip(argv: string[], input?: string): void {
  const r = spawnSync(argv[0]!, argv.slice(1), { input, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`${argv.join(' ')}: ${r.stderr}`);
}

/** A namespace with a veth to the host and a route to the rig, and no policy at all: the baseline. */
function unfilteredNetns(tag: string): { path: string; remove(): void } {
  const ns = `bn${tag}`;
  ip(
    ['ip', '-b', '-'],
    [`netns add ${ns}`, `link add ${ns}h type veth peer name eth0 netns ${ns}`, `addr add 172.31.${randomInt(250)}.1/30 dev ${ns}h`].join('\n') + '\n',
  );
  const hostAddr = spawnSync('ip', ['-4', '-o', 'addr', 'show', `${ns}h`], { encoding: 'utf8' }).stdout.match(/inet (\S+)\//)![1]!;
  const prefix = hostAddr.replace(/\.1$/, '');
  ip(['sh', '-c', `echo 1 > /proc/sys/net/ipv4/conf/${ns}h/forwarding && ip link set ${ns}h up`]);
  ip(
    ['ip', '-n', ns, '-b', '-'],
    [`addr add ${prefix}.2/30 dev eth0`, 'link set lo up', 'link set eth0 up', `route add default via ${hostAddr}`].join('\n') + '\n',
  );
  return { path: `/run/netns/${ns}`, remove: () => (spawnSync('ip', ['link', 'del', `${ns}h`]), spawnSync('ip', ['netns', 'del', ns])) };
}

/** Async on purpose: the proxy under test runs in this process, so a blocking spawn would stall it. */
function timer(netnsPath: string, job: object): Promise<number[]> {
  return new Promise((resolve, reject) => {
    execFile(
      'nsenter',
      [`--net=${netnsPath}`, process.execPath, join(HERE, 'net-timer.js'), JSON.stringify(job)],
      { encoding: 'utf8', timeout: 300_000 },
      (err, stdout, stderr) =>
        err ? reject(new Error(`net-timer ${JSON.stringify(job)} failed: ${err.message} ${stderr}`)) : resolve(JSON.parse(stdout) as number[]),
    );
  });
}

export async function benchNetwork(quick: boolean): Promise<{ rows: Row[]; notes: string[] }> {
  const n = quick ? { create: 5, conn: 50, bulkMiB: 64, bulk: 2 } : { create: 20, conn: 300, bulkMiB: 512, bulk: 5 };
  const rows: Row[] = [];
  const notes: string[] = [];
  const rig = await NetRig.start();
  const tag = randomBytes(3).toString('hex');
  const base = unfilteredNetns(tag);
  const dataDir = mkdtempSync('/tmp/airlock-bench-net-');
  const key = 'bench-key-0123456789abcdefghij';
  const server = await startServer(
    {
      dataDir,
      port: 0,
      apiKey: key,
      logLevel: 'warn',
      dnsUpstream: [RIG.rigEnd],
      network: { tag, subnet: `10.${200 + randomInt(40)}.${randomInt(16) * 16}.0/20`, uplinks: [rig.hostVeth] },
    },
    { print: () => {} },
  );
  try {
    const airlock = new Airlock({ url: server.url, apiKey: key });
    const create = async (network: boolean) =>
      summarize(
        await timeIt(
          n.create,
          async () => {
            const sb = await airlock.sandboxes.create({ runtime: 'runc', timeout: 120, ...(network ? { network: { egress: 'none' } } : {}) });
            await sb.destroy();
          },
          2,
        ),
      );
    const without = await create(false);
    const withNet = await create(true);
    rows.push({
      metric: 'create + destroy, with a network (egress none) vs without',
      runtime: 'runc',
      airlock: withNet,
      baseline: { name: 'no network', summary: without },
    });
    notes.push(`network: added create+destroy time p50 ${(withNet.p50 - without.p50).toFixed(1)} ms (goal: under 20 ms)`);

    const net = server.network!;
    const cidr = await net.attach('sb-benchcidr0000000000', {
      egress: { allow: [`${RIG.denied}/32`, `${RIG.allowed}:443/tcp`], deny: [] },
      peers: 'none',
      bandwidthMbit: null,
      publicPorts: false,
    });
    const named = await net.attach('sb-benchproxy000000000', {
      egress: { allow: ['ok.rig.test'], deny: [] },
      peers: 'none',
      bandwidthMbit: null,
      publicPorts: false,
    });
    const rtt = async (p: string, host: string) => summarize(await timer(p, { mode: 'rtt', host, port: 7000, n: n.conn }));
    const direct = await rtt(base.path, RIG.denied);
    const viaCidr = await rtt(cidr.netnsPath, RIG.denied);
    rows.push({
      metric: 'connect + 1 round trip, CIDR rule (nft)',
      runtime: 'netns',
      airlock: viaCidr,
      baseline: { name: 'unfiltered netns', summary: direct },
    });
    const httpDirect = summarize(await timer(base.path, { mode: 'http', host: RIG.allowed, port: 80, hostHeader: 'ok.rig.test', n: n.conn }));
    const httpProxy = summarize(await timer(named.netnsPath, { mode: 'http', host: RIG.allowed, port: 80, hostHeader: 'ok.rig.test', n: n.conn }));
    rows.push({
      metric: 'HTTP GET on a new connection, domain rule (proxy)',
      runtime: 'netns',
      airlock: httpProxy,
      baseline: { name: 'unfiltered netns', summary: httpDirect },
    });
    notes.push(
      `network: CIDR path +${(((viaCidr.p50 - direct.p50) / direct.p50) * 100).toFixed(1)}% (goal: within 10%); proxy path +${(httpProxy.p50 - httpDirect.p50).toFixed(2)} ms (goal: within 1 ms)`,
    );
    const bulk = async (p: string, sni: string | undefined, host: string) =>
      summarize(await timer(p, { mode: 'bulk', host, port: 443, n: n.bulk, bytes: n.bulkMiB * MiB, ...(sni ? { sni } : {}) }));
    const bulkDirect = await bulk(base.path, 'ok.rig.test', RIG.allowed);
    const bulkProxy = await bulk(named.netnsPath, 'ok.rig.test', RIG.allowed);
    const bulkCidr = await bulk(cidr.netnsPath, undefined, RIG.allowed);
    rows.push({
      metric: `send ${n.bulkMiB} MiB over TLS port 443, through the proxy`,
      runtime: 'netns',
      airlock: bulkProxy,
      baseline: { name: 'unfiltered netns', summary: bulkDirect },
    });
    rows.push({
      metric: `send ${n.bulkMiB} MiB over port 443, CIDR rule (nft, no proxy)`,
      runtime: 'netns',
      airlock: bulkCidr,
      baseline: { name: 'unfiltered netns', summary: bulkDirect },
    });
    const mbps = (s: { p50: number }) => (n.bulkMiB * 8 * MiB) / 1e6 / (s.p50 / 1000);
    notes.push(
      `network: throughput direct ${mbps(bulkDirect).toFixed(0)} Mbit/s, through the proxy ${mbps(bulkProxy).toFixed(0)} Mbit/s (${((bulkDirect.p50 / bulkProxy.p50) * 100).toFixed(0)}% of direct; goal: at least 80%), CIDR path ${mbps(bulkCidr).toFixed(0)} Mbit/s`,
    );
    await net.detach(cidr.id);
    await net.detach(named.id);
  } finally {
    for (const r of server.network?.records() ?? []) await server.network!.detach(r.id);
    await server.sandboxes.destroyAll();
    await server.close();
    base.remove();
    await rig.stop();
    rmSync(dataDir, { recursive: true, force: true });
  }
  return { rows, notes };
}
