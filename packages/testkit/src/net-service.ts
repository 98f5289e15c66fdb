/**
 * @module net-service
 * A network service wired to the rig (net-rig.ts): its own instance tag and a random /20 of
 * 10.200-10.239, the rig's DNS as upstream, the rig veth as the only uplink.
 */
import { randomBytes, randomInt } from 'node:crypto';
import { appendFileSync } from 'node:fs';
import { join } from 'node:path';
import { testRoot } from './harness.js';
import { NetworkSettings, type NetworkSettingsInput } from '@airlock/protocol';
import { cidr } from '@airlock/server/internal/network/ipv4.js';
import { NetworkService } from '@airlock/server/internal/network/network-service.js';
import { RIG, type NetRig } from './net-rig.js';

export async function startRigNetwork(rig: NetRig): Promise<NetworkService> {
  const tag = randomBytes(3).toString('hex');
  // The leak check looks for this instance's table, veths and namespaces by their tag.
  appendFileSync(join(testRoot(), 'network-tags'), `${tag}\n`);
  return NetworkService.start({
    tag,
    subnet: cidr(`10.${200 + randomInt(40)}.${randomInt(16) * 16}.0/20`),
    dnsUpstream: [RIG.rigEnd],
    uplinks: [rig.hostVeth],
    proxyPorts: { http: [80], tls: [443] },
    ttl: { min: 30, max: 300 },
    dnsRate: { perSecond: 50, burst: 100 },
    setGraceSec: 60,
    log: { warn: (o, m) => console.warn(m, o), error: (o, m) => console.error(m, o) },
  });
}

export function settings(s: NetworkSettingsInput): NetworkSettings {
  return NetworkSettings.parse(s);
}
