/**
 * network.peers (issue #12), through the real server with runc sandboxes, judged at the
 * destination: a listener in the destination sandbox logs every TCP connection and UDP datagram
 * that arrives, with its source address. What the probing sandbox reports is never the verdict.
 *
 * Alpha's a1 (peers project, the listener) and a2 (peers project, an allow-list with a domain, so
 * its port 80 would go to the proxy) reach each other; a3 (alpha, peers none) and b1 (beta, peers
 * project) reach nobody and are reached by nobody. Then a2 is switched off and on at run time, and
 * destroyed; a bad value is refused; gVisor and bwrap get the short version. A second server
 * checks a warm-pool claim and a restart.
 * (A root process borrowing an opted-in peer's address is egress.test.ts's, on plain namespaces.)
 */
import assert from 'node:assert/strict';
import { randomBytes, randomInt } from 'node:crypto';
import { connect } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { Api, eventually, newDataDir, projectWithKey, startTestServer, type TestServer } from '@airlock/testkit/harness.js';
import { probeCommand } from '@airlock/testkit/sandbox-net-probe.js';
import { checkCommand } from '../host/command.js';
import { nftListTable, nftSetElements } from '../host/nft.js';
import { peersGroup } from './nft-ruleset.js';

const LISTENER = String.raw`
import socket, threading
def tcp(port):
    s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); s.bind(('0.0.0.0', port)); s.listen(16)
    while True:
        c, a = s.accept()
        open('/tmp/arrivals', 'a').write('tcp %s %d\n' % (a[0], port)); c.close()
def udp(port):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(('0.0.0.0', port))
    while True:
        d, a = s.recvfrom(100)
        open('/tmp/arrivals', 'a').write('udp %s %d\n' % (a[0], port))
def lines(c, a):
    for l in c.makefile():
        open('/tmp/arrivals', 'a').write('data %s %s\n' % (a[0], l.strip()))
def stream(port):
    s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); s.bind(('0.0.0.0', port)); s.listen(16)
    while True:
        c, a = s.accept()
        threading.Thread(target=lines, args=(c, a), daemon=True).start()
for f, p in ((tcp, 80), (udp, 9001), (udp, 53), (stream, 9002)):
    threading.Thread(target=f, args=(p,), daemon=True).start()
tcp(9000)
`;

/** One connection kept open to HOST:9002; sends what the test writes to /tmp/msg, and notes it in /tmp/sent. */
const CLIENT = String.raw`
import os, socket, sys, time
open('/tmp/client.pid', 'w').write(str(os.getpid()))
s = socket.create_connection((sys.argv[1], 9002), timeout=5)
while True:
    if os.path.exists('/tmp/msg'):
        m = open('/tmp/msg').read(); os.remove('/tmp/msg')
        try:
            s.sendall(m.encode())
        except Exception as e:
            pass
        open('/tmp/sent', 'a').write(m)
    time.sleep(0.05)
`;

/** TCP 9000, TCP 80 (a proxied port) and UDP 9001 and 53 (DNS, redirected to the platform DNS for non-peers). */
const PROBES = (host: string) => [
  { op: 'tcp', host, port: 9000 },
  { op: 'tcp', host, port: 80 },
  { op: 'udp', host, port: 9001 },
  { op: 'udp', host, port: 53 },
];

function hostReaches(address: string, port: number): Promise<true | undefined> {
  return new Promise((resolve) => {
    const s = connect(port, address, () => {
      s.end();
      resolve(true);
    });
    s.on('error', () => resolve(undefined));
  });
}

interface Box {
  api: Api;
  id: string;
  address: string;
  netns: string;
}

/**
 * Starts the listener in `box` and waits until the host's connections to it are logged (the
 * listener works). `privileged`: also on 80 and 53 (runc and bwrap: the host kernel's stack).
 */
async function listen(box: Box, privileged = true): Promise<void> {
  // Ports 53 and 80 are privileged, and even the sandbox's root lacks that privilege over a
  // namespace that the host's user namespace owns: the test lowers the bound in the namespace.
  if (privileged) await checkCommand(['nsenter', `--net=${box.netns}`, 'sysctl', '-qw', 'net.ipv4.ip_unprivileged_port_start=0']);
  await box.api.exec(box.id, { cmd: ['sh', '-c', `(python3 -c "${LISTENER.replace(/"/g, '\\"')}" >/tmp/listener.log 2>&1 &)`] });
  const port = privileged ? 80 : 9000;
  await eventually(`the host reaches the listener on ${port}`, () => hostReaches(box.address, port), 30_000);
  await eventually('the listener logged the host', async () => ((await arrivals(box)).some((l) => l.endsWith(` ${port}`)) ? true : undefined), 10_000);
}

async function arrivals(box: Box): Promise<string[]> {
  const out: string = (await box.api.exec(box.id, { cmd: ['sh', '-c', 'cat /tmp/arrivals 2>/dev/null || true'] })).stdout;
  return out.split('\n').filter(Boolean);
}

/** What arrived at `to` while `from` probed it, as "<kind> <port>" of the lines whose source is `from`. */
async function probe(from: Box, to: Box, ops = PROBES(to.address)): Promise<string[]> {
  const before = (await arrivals(to)).length;
  const seen = await from.api.exec(from.id, { cmd: probeCommand(ops), timeout: 60 });
  assert.equal(seen.exitCode, 0, seen.stderr);
  // A datagram sent has no answer to wait for; give it the time the probe gave its reply.
  await new Promise((r) => setTimeout(r, 300));
  const fresh = (await arrivals(to)).slice(before);
  assert.deepEqual(
    fresh.filter((l) => !l.includes(` ${from.address} `)),
    [],
    'nothing else arrived meanwhile',
  );
  return fresh.map((l) => l.split(' ')).map(([kind, , port]) => `${kind} ${port}`);
}

const ALL = ['tcp 9000', 'tcp 80', 'udp 9001', 'udp 53'].sort();

function networkOverrides() {
  return { network: { tag: randomBytes(3).toString('hex'), subnet: `10.${200 + randomInt(40)}.${randomInt(16) * 16}.0/20` } };
}

describe('peers within a project', { timeout: 600_000 }, () => {
  let t: TestServer;
  let a1: Box, a2: Box, a3: Box, b1: Box;
  const members = async () => nftSetElements(t.server.network!.tableName, peersGroup('alpha'));
  const box = async (api: Api, network: object, runtime = 'runc'): Promise<Box> => {
    const sb = await api.create({ runtime, network });
    return { api, id: sb.id, address: sb.network.address, netns: t.server.network!.attachmentOf(sb.id)!.netnsPath };
  };
  before(async () => {
    t = await startTestServer(undefined, networkOverrides());
  });
  after(async () => {
    await t?.close();
  });

  test('same project, both "project": TCP (also to port 80) and UDP (also to port 53) arrive at the peer', async (ctx) => {
    if (!t.server.network) return ctx.skip('this host has no sandbox networks (nft missing)');
    const alpha = await projectWithKey(t.api, 'alpha');
    const beta = await projectWithKey(t.api, 'beta');
    a1 = await box(alpha, { egress: 'none', peers: 'project' });
    a2 = await box(alpha, { egress: { allow: ['ok.rig.test'] }, peers: 'project' });
    a3 = await box(alpha, { egress: 'all' });
    b1 = await box(beta, { egress: 'all', peers: 'project' });
    assert.equal((await alpha.call('GET', `/v1/sandboxes/${a1.id}`)).body.network.peers, 'project');
    assert.equal((await alpha.call('GET', `/v1/sandboxes/${a3.id}/network`)).body.peers, 'none', 'the default');
    await listen(a1);
    await listen(a3);
    assert.deepEqual((await probe(a2, a1)).sort(), ALL);
    assert.deepEqual((await members())?.sort(), [a1.address, a2.address].sort());
  });

  test('either end "none": nothing arrives, in either direction', async () => {
    assert.deepEqual(await probe(a3, a1), [], 'the source did not opt in');
    assert.deepEqual(await probe(a2, a3), [], 'the destination did not opt in');
    assert.deepEqual(await probe(a1, a3), [], 'the destination did not opt in (egress none)');
  });

  test('another project, both "project": nothing arrives', async () => {
    assert.deepEqual(await probe(b1, a1), []);
    assert.ok(!(await members())!.includes(b1.address));
    assert.deepEqual(await nftSetElements(t.server.network!.tableName, peersGroup('beta')), [b1.address]);
  });

  test('a bad value is 400 naming network.peers and both values; the setting in force stays', async () => {
    const create = await a1.api.call('POST', '/v1/sandboxes', { runtime: 'runc', network: { peers: 'all' } });
    assert.equal(create.status, 400);
    assert.equal(create.body.code, 'invalid_request');
    assert.match(create.body.message, /network\.peers/);
    assert.match(create.body.message, /"none".*"project"/);
    const put = await a2.api.call('PUT', `/v1/sandboxes/${a2.id}/network`, { egress: 'none', peers: true });
    assert.equal(put.status, 400);
    assert.equal(put.body.code, 'invalid_request');
    assert.match(put.body.message, /peers.*"none".*"project"/);
    assert.equal((await a2.api.call('GET', `/v1/sandboxes/${a2.id}/network`)).body.peers, 'project');
  });

  test('switched off at run time, new connections do not arrive; switched on again, they do', async () => {
    const off = await a2.api.call('PUT', `/v1/sandboxes/${a2.id}/network`, { egress: { allow: ['ok.rig.test'] }, peers: 'none' });
    assert.equal(off.status, 200, JSON.stringify(off.body));
    assert.equal(off.body.peers, 'none');
    assert.deepEqual(await members(), [a1.address]);
    assert.deepEqual(await probe(a2, a1), []);
    const on = await a2.api.call('PUT', `/v1/sandboxes/${a2.id}/network`, { egress: { allow: ['ok.rig.test'] }, peers: 'project' });
    assert.equal(on.body.peers, 'project');
    assert.deepEqual((await probe(a2, a1)).sort(), ALL);
  });

  test('switched off at run time, an open connection carries nothing more', async () => {
    const sh = (cmd: string) => a2.api.exec(a2.id, { cmd: ['sh', '-c', cmd] });
    await a2.api.exec(a2.id, { cmd: ['sh', '-c', `(python3 -c "${CLIENT.replace(/"/g, '\\"')}" ${a1.address} >/tmp/client.log 2>&1 &)`] });
    const data = async () => (await arrivals(a1)).filter((l) => l.startsWith(`data ${a2.address} `)).map((l) => l.split(' ')[2]);
    await sh('echo before > /tmp/msg');
    await eventually('the open connection carries "before"', async () => ((await data()).includes('before') ? true : undefined), 30_000);
    assert.equal((await a2.api.call('PUT', `/v1/sandboxes/${a2.id}/network`, { egress: { allow: ['ok.rig.test'] }, peers: 'none' })).status, 200);
    await sh('echo after > /tmp/msg');
    await eventually('the client sent "after"', async () => ((await sh('cat /tmp/sent')).stdout.includes('after') ? true : undefined), 30_000);
    // TCP retransmits within the next second or two (the minimum RTO is 200 ms); none may arrive.
    await new Promise((r) => setTimeout(r, 2000));
    assert.deepEqual(await data(), ['before']);
    await sh('kill $(cat /tmp/client.pid)');
    assert.equal((await a2.api.call('PUT', `/v1/sandboxes/${a2.id}/network`, { egress: { allow: ['ok.rig.test'] }, peers: 'project' })).status, 200);
  });

  test('after destroy the set no longer holds the address; with the last member the group goes', async () => {
    // Destroy answers once the sandbox is stopped; the release of its host objects may end after.
    assert.equal((await a2.api.call('DELETE', `/v1/sandboxes/${a2.id}`)).status, 200);
    await eventually('a2 released', async () => ((await members())?.length === 1 ? true : undefined), 30_000);
    assert.deepEqual(await members(), [a1.address]);
    assert.equal((await a1.api.call('DELETE', `/v1/sandboxes/${a1.id}`)).status, 200);
    await eventually('no set peers_<alpha> left', async () => ((await members()) === undefined ? true : undefined), 30_000);
    assert.doesNotMatch(await nftListTable(t.server.network!.tableName), new RegExp(peersGroup('alpha')), 'nor its chain');
  });

  for (const runtime of ['gvisor', 'bwrap'] as const) {
    test(`${runtime}: peers of one project reach each other; a sandbox without peers reaches neither`, async (ctx) => {
      const avail = (await t.api.call('GET', '/v1/health')).body.runtimes.find((r: { name: string }) => r.name === runtime);
      if (!avail?.available) return ctx.skip(`${runtime} is not available here: ${avail?.reason}`);
      const api = await projectWithKey(t.api, `gamma-${runtime}`);
      const [x, y, z] = [await box(api, { peers: 'project' }, runtime), await box(api, { peers: 'project' }, runtime), await box(api, {}, runtime)];
      await listen(x, false);
      const ops = [
        { op: 'tcp', host: x.address, port: 9000 },
        { op: 'udp', host: x.address, port: 9001 },
      ];
      assert.deepEqual((await probe(y, x, ops)).sort(), ['tcp 9000', 'udp 9001']);
      assert.deepEqual(await probe(z, x, ops), []);
    });
  }
});

describe('peers after a warm-pool claim and across a restart', { timeout: 600_000 }, () => {
  test('a claimed pool sandbox joins its group; a restarted server rebuilds it from the store', async (ctx) => {
    const dataDir = newDataDir('peers-restart');
    const overrides = { ...networkOverrides(), pools: ['runc:1'] };
    let t = await startTestServer(dataDir, overrides);
    try {
      if (!t.server.network) return ctx.skip('this host has no sandbox networks (nft missing)');
      await eventually('a ready pool', async () => ((await t.api.call('GET', '/v1/pools')).body.pools[0]?.ready === 1 ? true : undefined));
      const create = async (): Promise<Box> => {
        const sb = await t.api.create({ runtime: 'runc', network: { peers: 'project' } });
        return { api: t.api, id: sb.id, address: sb.network.address, netns: t.server.network!.attachmentOf(sb.id)!.netnsPath };
      };
      const pooled = await create();
      assert.equal((await t.api.call('GET', '/v1/pools')).body.pools[0].hits, 1, 'served from the pool');
      const fresh = await create();
      await listen(fresh);
      assert.deepEqual((await probe(pooled, fresh)).sort(), ALL);
      const project = (await t.api.call('GET', `/v1/sandboxes/${pooled.id}`)).body.project as string;

      // A close without destroying: the sandboxes outlive the server, as after a crash.
      await t.server.close();
      t = await startTestServer(dataDir, overrides);
      for (const b of [pooled, fresh]) b.api = t.api;
      assert.deepEqual((await nftSetElements(t.server.network!.tableName, peersGroup(project)))?.sort(), [pooled.address, fresh.address].sort());
      assert.deepEqual((await probe(pooled, fresh)).sort(), ALL);
    } finally {
      await t.close();
    }
  });
});
