import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { nftTables } from '../host/nft.js';
import { listLinks, listNetns } from '../host/netns.js';
import { NetRig, RIG } from '../test/net-rig.js';
import { settings, startRigNetwork } from '../test/net-service.js';
import type { NetworkService } from './network-service.js';

describe('egress from a plain namespace, judged at the rig', { timeout: 300_000 }, () => {
  let rig: NetRig;
  let net: NetworkService;
  before(async () => {
    rig = await NetRig.start();
    net = await startRigNetwork(rig);
  });
  after(async () => {
    for (const r of net?.records() ?? []) await net.detach(r.id);
    await net?.close({ removeTable: true });
    await rig?.stop();
  });

  test('an allow-list of one name reaches it over the proxy and the resolved-address path, and nothing else arrives', async () => {
    const a = await net.attach('sb-allowlist0000000000', settings({ egress: { allow: ['ok.rig.test'] } }));
    rig.clear();
    const r = await rig.probe(a.netnsPath, [
      { op: 'resolve', name: 'ok.rig.test' },
      { op: 'tcp', host: RIG.allowed, port: 7000 },
      { op: 'http', host: RIG.allowed, port: 80, requests: [{ host: 'ok.rig.test' }] },
      { op: 'tls', host: RIG.denied, port: 443, servername: 'ok.rig.test' },
      { op: 'tcp', host: RIG.denied, port: 7000 },
      { op: 'resolve', name: 'other.rig.test' },
      { op: 'dns', server: '8.8.8.8', name: 'secret1.attacker.example' },
    ]);
    assert.deepEqual(r[0], { addresses: [RIG.allowed] });
    const tcp = rig.arrivals((x) => x.kind === 'tcp');
    assert.deepEqual(
      tcp.map((x) => `${x.to}:${x.port}`).sort(),
      [`${RIG.allowed}:443`, `${RIG.allowed}:7000`, `${RIG.allowed}:80`],
      JSON.stringify(tcp),
    );
    assert.deepEqual([...new Set(rig.questions())], ['ok.rig.test']);
    console.log(JSON.stringify(r), JSON.stringify(net.events('sb-allowlist0000000000')));
    await net.detach(a.id);
  });

  test('detach leaves no namespace, link or nft objects of the sandbox', async () => {
    assert.deepEqual(listNetns(net.plan.netnsPrefix), []);
    assert.deepEqual(listLinks(net.plan.vethPrefix), []);
    assert.deepEqual(await nftTables(net.tableName), [net.tableName]);
  });
});
