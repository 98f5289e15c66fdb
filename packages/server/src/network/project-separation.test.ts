/**
 * Sandboxes of different projects never reach each other, judged at the destination: a listener
 * in project A's sandbox logs every connection that arrives. The positive control is the host
 * reaching the same listener (so the listener works and logs); then project B's sandbox, with
 * egress `all`, tries A's address over TCP and UDP, and nothing arrives. A second sandbox of A
 * itself does not get through either (neither chose network.peers "project"; peers.test.ts has that).
 */
import assert from 'node:assert/strict';
import { randomBytes, randomInt } from 'node:crypto';
import { connect } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { Api, eventually, startTestServer, type TestServer } from '@airlock/testkit/harness.js';
import { probeCommand } from '@airlock/testkit/sandbox-net-probe.js';

const LISTENER = String.raw`
import socket, threading
def tcp():
    s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); s.bind(('0.0.0.0', 9000)); s.listen(16)
    while True:
        c, a = s.accept()
        open('/tmp/arrivals', 'a').write('tcp ' + a[0] + '\n'); c.close()
def udp():
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(('0.0.0.0', 9001))
    while True:
        d, a = s.recvfrom(100)
        open('/tmp/arrivals', 'a').write('udp ' + a[0] + '\n')
threading.Thread(target=udp, daemon=True).start()
tcp()
`;

describe('sandboxes of two projects cannot reach each other', { timeout: 300_000 }, () => {
  let t: TestServer;
  before(async () => {
    t = await startTestServer(undefined, { network: { tag: randomBytes(3).toString('hex'), subnet: `10.${200 + randomInt(40)}.${randomInt(16) * 16}.0/20` } });
  });
  after(async () => {
    await t?.close();
  });

  test('nothing from project B (or another sandbox of A) arrives at A; the host does', async (ctx) => {
    if (!t.server.network) return ctx.skip('this host has no sandbox networks (nft missing)');
    const keyOf = async (name: string) => {
      assert.equal((await t.api.call('POST', '/v1/projects', { name })).status, 201);
      return new Api(t.api.url, (await t.api.call('POST', `/v1/projects/${name}/keys`, { name: 'k' })).body.key);
    };
    const a = await keyOf('alpha');
    const b = await keyOf('beta');
    const target = await a.create({ runtime: 'runc', network: { egress: 'all' } });
    const address: string = target.network.address;
    assert.match(address, /^\d+\.\d+\.\d+\.\d+$/);
    await a.exec(target.id, { cmd: ['sh', '-c', `(python3 -c "${LISTENER.replace(/"/g, '\\"')}" >/dev/null 2>&1 &)`] });
    const arrivals = async () => (await a.exec(target.id, { cmd: ['sh', '-c', 'cat /tmp/arrivals 2>/dev/null || true'] })).stdout as string;

    // Positive control: the host end reaches the listener, and it logs.
    await eventually(
      'the host reaches the listener',
      () =>
        new Promise<true | undefined>((resolve) => {
          const s = connect(9000, address, () => {
            s.end();
            resolve(true);
          });
          s.on('error', () => resolve(undefined));
        }),
      30_000,
    );
    await eventually('the listener logged the host', async () => ((await arrivals()).includes('tcp ') ? true : undefined), 10_000);
    const baseline = await arrivals();

    const other = await b.create({ runtime: 'runc', network: { egress: 'all' } });
    const sibling = await a.create({ runtime: 'runc', network: { egress: 'all' } });
    for (const [api, sb] of [
      [b, other],
      [a, sibling],
    ] as const) {
      const seen = await api.exec(sb.id, {
        cmd: probeCommand([
          { op: 'tcp', host: address, port: 9000 },
          { op: 'udp', host: address, port: 9001 },
        ]),
        timeout: 60,
      });
      assert.match(seen.stdout, /error/, `the attempt from ${sb.id} failed inside too: ${seen.stdout}`);
    }
    await new Promise((r) => setTimeout(r, 500));
    assert.equal(await arrivals(), baseline, 'nothing more arrived at the destination');
    for (const [api, sb] of [
      [a, target],
      [b, other],
      [a, sibling],
    ] as const)
      await api.call('DELETE', `/v1/sandboxes/${sb.id}`);
  });
});
