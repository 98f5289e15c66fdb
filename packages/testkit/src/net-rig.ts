/**
 * @module net-rig
 * The network tests' own internet, in namespaces the test creates and removes:
 *   - a namespace `ri<hex>` linked to the host by a veth, holding the rig addresses (TEST-NET-2
 *     and -3, plus 10.1.2.3 as a "private" host and 169.254.169.254 as the metadata address, each
 *     routed from the host to the rig only for the test's lifetime, over the rig's own veth);
 *   - in it, listeners on several ports and an authoritative DNS server for `rig.test` that logs
 *     every question (net-rig-internet.ts);
 *   - a listener in the host's own namespace standing in for host services (the API port and the
 *     like), on every host address.
 * The rig veth is the only uplink the network service under test may use, so no test packet can
 * leave the machine, whatever a policy says.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createServer, type Server } from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { checkCommand, runCommand } from '@airlock/server/internal/host/command.js';
import { eventually } from './harness.js';

const HERE = fileURLToPath(new URL('.', import.meta.url));

export const RIG = {
  hostEnd: '198.51.100.1',
  rigEnd: '198.51.100.2',
  allowed: '203.0.113.10',
  denied: '203.0.113.20',
  wild: '203.0.113.30',
  otherResolver: '203.0.113.53',
  privateHost: '10.1.2.3',
  metadata: '169.254.169.254',
  domain: 'rig.test',
  tcpPorts: [80, 443, 5432, 7000],
  udpPorts: [7001],
} as const;

export const RIG_ZONE: Record<string, string> = {
  'ok.rig.test': RIG.allowed,
  'other.rig.test': RIG.denied,
  '*.wild.rig.test': RIG.wild,
  'meta.rig.test': RIG.metadata,
  'private.rig.test': RIG.privateHost,
  'host.rig.test': RIG.hostEnd,
};

export interface Arrival {
  kind: 'tcp' | 'tcp-data' | 'udp' | 'dns' | 'ready';
  to?: string;
  port?: number;
  from?: string;
  name?: string;
  type?: string;
  head?: string;
  via?: string;
}

export class NetRig {
  readonly log: Arrival[] = [];
  readonly hostLog: { to: string; port: number; from: string }[] = [];
  hostServicePort = 0;
  #procs: ChildProcess[] = [];
  #hostService: Server | undefined;

  private constructor(
    readonly netns: string,
    readonly hostVeth: string,
  ) {}

  static async start(): Promise<NetRig> {
    const tag = randomBytes(3).toString('hex');
    const rig = new NetRig(`ri${tag}`, `ri${tag}h`);
    const extra = [RIG.allowed, RIG.denied, RIG.wild, RIG.otherResolver, RIG.privateHost, RIG.metadata];
    await checkCommand(['ip', '-b', '-'], {
      input:
        [
          `netns add ${rig.netns}`,
          `link add ${rig.hostVeth} type veth peer name eth0 netns ${rig.netns}`,
          `addr add ${RIG.hostEnd}/24 dev ${rig.hostVeth}`,
          `link set ${rig.hostVeth} up`,
          `route add 203.0.113.0/24 via ${RIG.rigEnd} dev ${rig.hostVeth}`,
          `route add ${RIG.privateHost}/32 via ${RIG.rigEnd} dev ${rig.hostVeth}`,
          `route add ${RIG.metadata}/32 via ${RIG.rigEnd} dev ${rig.hostVeth}`,
        ].join('\n') + '\n',
    });
    await checkCommand(['ip', '-n', rig.netns, '-b', '-'], {
      input:
        [
          `addr add ${RIG.rigEnd}/24 dev eth0`,
          ...extra.map((a) => `addr add ${a}/32 dev eth0`),
          'link set eth0 up',
          'link set lo up',
          `route add default via ${RIG.hostEnd}`,
        ].join('\n') + '\n',
    });
    await rig.#startInternet();
    await rig.#startHostService();
    return rig;
  }

  async #startInternet(): Promise<void> {
    const config = { tcpPorts: RIG.tcpPorts, udpPorts: RIG.udpPorts, zone: RIG_ZONE };
    const p = spawn('nsenter', [`--net=/run/netns/${this.netns}`, process.execPath, join(HERE, 'net-rig-internet.js'), JSON.stringify(config)], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    this.#procs.push(p);
    let buf = '';
    p.stdout!.setEncoding('utf8').on('data', (d: string) => {
      buf += d;
      let i;
      while ((i = buf.indexOf('\n')) >= 0) {
        this.log.push(JSON.parse(buf.slice(0, i)) as Arrival);
        buf = buf.slice(i + 1);
      }
    });
    await eventually('the rig internet', () => (this.log.some((l) => l.kind === 'ready') ? true : undefined), 20_000);
    this.log.length = 0;
  }

  async #startHostService(): Promise<void> {
    const server = createServer((s) => {
      this.hostLog.push({ to: s.localAddress ?? '', port: s.localPort ?? 0, from: s.remoteAddress ?? '' });
      s.destroy();
    });
    await new Promise<void>((r) => server.listen(0, '0.0.0.0', () => r()));
    this.hostServicePort = (server.address() as { port: number }).port;
    this.#hostService = server;
  }

  /** What arrived at the rig since the last clear, as one list. */
  arrivals(pred: (a: Arrival) => boolean = () => true): Arrival[] {
    return this.log.filter(pred);
  }

  /** DNS questions the authoritative server received. */
  questions(): string[] {
    return this.log.filter((a) => a.kind === 'dns').map((a) => a.name ?? '');
  }

  clear(): void {
    this.log.length = 0;
    this.hostLog.length = 0;
  }

  /** Runs probe ops inside `netnsPath` as an unprivileged user (`root`: as root, for spoofing attempts). */
  async probe(netnsPath: string, ops: object[], options: { root?: boolean } = {}): Promise<any[]> {
    const user = options.root ? [] : ['setpriv', '--reuid=65534', '--regid=65534', '--clear-groups'];
    const r = await runCommand(['nsenter', `--net=${netnsPath}`, ...user, process.execPath, join(HERE, 'net-probe.js'), JSON.stringify(ops)], {
      timeoutMs: 120_000,
    });
    if (r.code !== 0) throw new Error(`probe failed: ${r.stderr}`);
    // Let the rig's log catch up with the last arrivals (its output is a pipe).
    await new Promise((res) => setTimeout(res, 200));
    return JSON.parse(r.stdout) as any[];
  }

  /** A process of the test's own, inside `netnsPath` as root (adding addresses for spoofing tests…). */
  async inside(netnsPath: string, argv: string[]): Promise<void> {
    await checkCommand(['nsenter', `--net=${netnsPath}`, ...argv]);
  }

  /** Starts the rig's listeners in another namespace too (another sandbox, for cross-tenant tests). */
  async listenIn(netnsPath: string, ports: number[]): Promise<Arrival[]> {
    const log: Arrival[] = [];
    const p = spawn(
      'nsenter',
      [`--net=${netnsPath}`, process.execPath, join(HERE, 'net-rig-internet.js'), JSON.stringify({ tcpPorts: ports, udpPorts: [], zone: {} })],
      {
        stdio: ['ignore', 'pipe', 'inherit'],
      },
    );
    this.#procs.push(p);
    p.stdout!.setEncoding('utf8').on('data', (d: string) => {
      for (const l of d.split('\n').filter(Boolean)) log.push(JSON.parse(l) as Arrival);
    });
    await eventually('listeners in the other namespace', () => (log.some((l) => l.kind === 'ready') ? true : undefined), 20_000);
    return log;
  }

  async stop(): Promise<void> {
    for (const p of this.#procs) if (p.exitCode === null) p.kill('SIGKILL');
    await new Promise<void>((r) => (this.#hostService ? this.#hostService.close(() => r()) : r()));
    // Routes over the rig veth go with it.
    await runCommand(['ip', 'link', 'del', this.hostVeth]);
    await runCommand(['ip', 'netns', 'del', this.netns]);
  }
}
