/**
 * The "done when", on every available runtime, through the real server: a sandbox whose
 * allow-list holds one test domain reaches it on two ports (one through the proxy, one through
 * the addresses the platform DNS resolved), nothing else arrives at any listener, and the
 * authoritative DNS never sees a name outside the list. Plus a run-time update, the audit, and an
 * exposed port with and without its token.
 */
import assert from 'node:assert/strict';
import { randomBytes, randomInt } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import type { RuntimeName } from '@airlock/protocol';
import { listLinks, listNetns } from '../host/netns.js';
import { nftTables } from '../host/nft.js';
import { eventually, newDataDir, startTestServer, type TestServer } from '@airlock/testkit/harness.js';
import { NetRig, RIG } from '@airlock/testkit/net-rig.js';
import { probeCommand } from '@airlock/testkit/sandbox-net-probe.js';

const RUNTIMES: RuntimeName[] = ['runc', 'gvisor', 'bwrap'];

describe('sandbox networks on every runtime, judged at the rig', { timeout: 600_000 }, () => {
  let rig: NetRig;
  let t: TestServer;
  before(async () => {
    rig = await NetRig.start();
    t = await startTestServer(undefined, {
      dnsUpstream: [RIG.rigEnd],
      network: { tag: randomBytes(3).toString('hex'), subnet: `10.${200 + randomInt(40)}.${randomInt(16) * 16}.0/20`, uplinks: [rig.hostVeth] },
    });
  });
  after(async () => {
    const table = t?.server.network?.tableName;
    const plan = t?.server.network?.plan;
    await t?.close();
    await rig?.stop();
    if (plan) {
      assert.deepEqual(listNetns(plan.netnsPrefix), [], 'no namespace left');
      assert.deepEqual(listLinks(plan.vethPrefix), [], 'no veth left');
      assert.deepEqual(await nftTables(table!), [], 'the table is gone');
    }
  });

  for (const runtime of RUNTIMES) {
    test(`${runtime}: an allow-list of one domain reaches it on two ports and nothing else arrives anywhere`, async (ctx) => {
      const avail = (await t.api.call('GET', '/v1/health')).body.runtimes.find((r: { name: string }) => r.name === runtime);
      if (!avail?.available) return ctx.skip(`${runtime} is not available here: ${avail?.reason}`);
      const sb = await t.api.create({ runtime, network: { egress: { allow: ['ok.rig.test'] } } });
      assert.equal(sb.network.egress.allow[0], 'ok.rig.test');
      rig.clear();
      const exec = await t.api.exec(sb.id, {
        cmd: probeCommand([
          { op: 'resolve', name: 'ok.rig.test' },
          { op: 'tcp', host: RIG.allowed, port: 7000 },
          { op: 'tcp', host: RIG.allowed, port: 80, send: 'GET / HTTP/1.1\r\nHost: ok.rig.test\r\nConnection: close\r\n\r\n' },
          { op: 'resolve', name: 'other.rig.test' },
          { op: 'resolve', name: 'c1.attacker.example' },
          { op: 'tcp', host: RIG.denied, port: 7000 },
          { op: 'tcp', host: RIG.denied, port: 80, send: 'GET / HTTP/1.1\r\nHost: other.rig.test\r\n\r\n' },
          { op: 'udp', host: RIG.denied, port: 7001 },
          { op: 'tcp', host: RIG.privateHost, port: 5432 },
          { op: 'tcp', host: RIG.metadata, port: 80 },
          { op: 'tcp', host: RIG.hostEnd, port: rig.hostServicePort },
        ]),
        timeout: 120,
      });
      await new Promise((r) => setTimeout(r, 300));
      const seen = JSON.parse(exec.stdout);
      assert.deepEqual(seen[0], { addresses: [RIG.allowed] }, exec.stdout + exec.stderr);
      const arrivals = rig.arrivals((x) => x.kind === 'tcp' || x.kind === 'udp').map((x) => `${x.kind} ${x.to ?? ''}:${x.port}`);
      assert.deepEqual(arrivals.sort(), [`tcp ${RIG.allowed}:7000`, `tcp ${RIG.allowed}:80`], exec.stdout);
      // Only listed names ever reach the authoritative server (the platform caches answers for their
      // TTL, so a later sandbox's lookup of the same name may not reach it at all).
      assert.deepEqual(
        rig.questions().filter((q) => q !== 'ok.rig.test'),
        [],
      );
      assert.deepEqual(rig.hostLog, []);
      const events = (await t.api.call('GET', `/v1/sandboxes/${sb.id}/network/events`)).body.events;
      assert.ok(events.some((e: { name?: string; verdict: string }) => e.name === 'c1.attacker.example' && e.verdict === 'denied'));

      // At run time: open the denied address's port, then close it again.
      const up = await t.api.call('PUT', `/v1/sandboxes/${sb.id}/network`, { egress: { allow: ['ok.rig.test', `${RIG.denied}:7000/tcp`] } });
      assert.equal(up.status, 200);
      rig.clear();
      await t.api.exec(sb.id, { cmd: probeCommand([{ op: 'tcp', host: RIG.denied, port: 7000 }]) });
      await new Promise((r) => setTimeout(r, 300));
      assert.deepEqual(
        rig.arrivals((x) => x.kind === 'tcp').map((x) => `${x.to}:${x.port}`),
        [`${RIG.denied}:7000`],
      );
      assert.equal((await t.api.call('PUT', `/v1/sandboxes/${sb.id}/network`, { egress: { allow: ['*.x*.example'] } })).status, 400);
      await t.api.call('PUT', `/v1/sandboxes/${sb.id}/network`, { egress: 'none' });
      rig.clear();
      await t.api.exec(sb.id, {
        cmd: probeCommand([
          { op: 'tcp', host: RIG.denied, port: 7000 },
          { op: 'resolve', name: 'ok.rig.test' },
        ]),
      });
      await new Promise((r) => setTimeout(r, 300));
      assert.deepEqual(rig.arrivals(), []);

      // An exposed port, with egress none: refused without the token, served with it.
      await t.api.exec(sb.id, { cmd: ['sh', '-c', 'cd /tmp && echo hi-from-the-sandbox > index.html && (python3 -m http.server 8080 >/dev/null 2>&1 &)'] });
      const details = (await t.api.call('GET', `/v1/sandboxes/${sb.id}/network`)).body;
      const url = `${t.api.url}/v1/sandboxes/${sb.id}/ports/8080/index.html`;
      let ok: Response | undefined;
      for (let i = 0; i < 50 && ok?.status !== 200; i++) {
        ok = await fetch(`${url}?airlock_token=${details.portsToken}`);
        if (ok.status !== 200) await new Promise((r) => setTimeout(r, 100));
      }
      assert.equal(ok?.status, 200);
      assert.equal(await ok!.text(), 'hi-from-the-sandbox\n');
      assert.equal((await fetch(url)).status, 401);
      assert.equal((await fetch(url, { headers: { 'x-airlock-ports-token': 'x'.repeat(32) } })).status, 401);

      await t.api.call('DELETE', `/v1/sandboxes/${sb.id}`);
      assert.equal((await t.api.call('PUT', `/v1/sandboxes/${sb.id}/network`, { egress: 'all' })).status, 409);
    });
  }
});

describe('a sandbox network across a restart of the server', { timeout: 300_000 }, () => {
  test('the restarted server takes the network back: same policy, new listeners, and nothing left after destroy', async (ctx) => {
    const rig = await NetRig.start();
    const dataDir = newDataDir('net-restart');
    const overrides = {
      dnsUpstream: [RIG.rigEnd],
      network: { tag: randomBytes(3).toString('hex'), subnet: `10.${200 + randomInt(40)}.${randomInt(16) * 16}.0/20`, uplinks: [rig.hostVeth] },
    };
    let t = await startTestServer(dataDir, overrides);
    try {
      const avail = (await t.api.call('GET', '/v1/health')).body.runtimes.find((r: { name: string }) => r.name === 'runc');
      if (!avail?.available) return ctx.skip('runc is not available here');
      const sb = await t.api.create({ runtime: 'runc', network: { egress: { allow: ['ok.rig.test'] } } });
      // A close without destroying: the sandbox outlives the server, as after a crash.
      await t.server.close();
      t = await startTestServer(dataDir, overrides);
      const again = (await t.api.call('GET', `/v1/sandboxes/${sb.id}`)).body;
      assert.equal(again.state, 'running');
      assert.equal(again.network.address, sb.network.address);
      rig.clear();
      const exec = await t.api.exec(sb.id, {
        cmd: probeCommand([
          { op: 'resolve', name: 'ok.rig.test' },
          { op: 'tcp', host: RIG.allowed, port: 7000 },
          { op: 'tcp', host: RIG.denied, port: 7000 },
        ]),
      });
      await new Promise((r) => setTimeout(r, 300));
      assert.deepEqual(JSON.parse(exec.stdout)[0], { addresses: [RIG.allowed] }, exec.stdout);
      assert.deepEqual(
        rig.arrivals((x) => x.kind === 'tcp').map((x) => `${x.to}:${x.port}`),
        [`${RIG.allowed}:7000`],
      );
    } finally {
      const plan = t.server.network?.plan;
      await t.close();
      await rig.stop();
      if (plan) {
        assert.deepEqual(listNetns(plan.netnsPrefix), []);
        assert.deepEqual(listLinks(plan.vethPrefix), []);
      }
    }
  });
});

describe('a warm-pool sandbox gets its policy when it is claimed', { timeout: 300_000 }, () => {
  test("the pooled sandbox serves the create, and its policy is the create's", async (ctx) => {
    const rig = await NetRig.start();
    const t = await startTestServer(undefined, {
      dnsUpstream: [RIG.rigEnd],
      pools: ['runc:1'],
      network: { tag: randomBytes(3).toString('hex'), subnet: `10.${200 + randomInt(40)}.${randomInt(16) * 16}.0/20`, uplinks: [rig.hostVeth] },
    });
    try {
      const avail = (await t.api.call('GET', '/v1/health')).body.runtimes.find((r: { name: string }) => r.name === 'runc');
      if (!avail?.available) return ctx.skip('runc is not available here');
      await eventually('a ready pool', async () => ((await t.api.call('GET', '/v1/pools')).body.pools[0]?.ready === 1 ? true : undefined));
      const sb = await t.api.create({ runtime: 'runc', network: { egress: { allow: [`${RIG.denied}:7000/tcp`] } } });
      assert.equal((await t.api.call('GET', '/v1/pools')).body.pools[0].hits, 1, 'served from the pool');
      rig.clear();
      await t.api.exec(sb.id, {
        cmd: probeCommand([
          { op: 'tcp', host: RIG.denied, port: 7000 },
          { op: 'tcp', host: RIG.allowed, port: 7000 },
        ]),
      });
      await new Promise((r) => setTimeout(r, 300));
      assert.deepEqual(
        rig.arrivals((x) => x.kind === 'tcp').map((x) => `${x.to}:${x.port}`),
        [`${RIG.denied}:7000`],
      );
      // A pooled sandbox handed to a create without a network keeps egress none.
      await eventually('a refilled pool', async () => ((await t.api.call('GET', '/v1/pools')).body.pools[0]?.ready === 1 ? true : undefined));
      const plain = await t.api.create({ runtime: 'runc' });
      rig.clear();
      await t.api.exec(plain.id, { cmd: probeCommand([{ op: 'tcp', host: RIG.denied, port: 7000 }]) });
      await new Promise((r) => setTimeout(r, 300));
      assert.deepEqual(rig.arrivals(), []);
    } finally {
      await t.close();
      await rig.stop();
    }
  });
});
