/** Warm pool configuration: flags, environment and the config file, and the mistakes they refuse. */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { ConfigError, loadConfig } from './config.js';

const env = (extra: Record<string, string> = {}) => ({ AIRLOCK_CONFIG: configFile({}), ...extra });

// Every config file of this test lives under one directory, removed when the file's tests end.
const dir = mkdtempSync(join(tmpdir(), 'airlock-config-'));
after(() => rmSync(dir, { recursive: true, force: true }));
let files = 0;

function configFile(body: unknown): string {
  const p = join(dir, `config-${files++}.json`);
  writeFileSync(p, JSON.stringify(body));
  return p;
}

test('no pools unless asked for; refills one at a time by default', { timeout: 60_000 }, () => {
  const c = loadConfig({}, env());
  assert.deepEqual(c.pools, { shapes: [], refillConcurrency: 1, refillDelayMs: 100 });
});

test('--pool runtime:size gives pools of the default image and resources', { timeout: 60_000 }, () => {
  const c = loadConfig({ pools: ['gvisor:4', 'runc:2'] }, env());
  assert.deepEqual(c.pools.shapes, [
    { runtime: 'gvisor', size: 4, image: 'default', cpu: 1, memoryMiB: 512, diskMiB: 2048 },
    { runtime: 'runc', size: 2, image: 'default', cpu: 1, memoryMiB: 512, diskMiB: 2048 },
  ]);
});

test('AIRLOCK_POOLS is the same list; flags win over it, and it over the file', { timeout: 60_000 }, () => {
  const file = configFile({ pools: [{ runtime: 'runc', size: 9 }] });
  assert.deepEqual(
    loadConfig({}, { AIRLOCK_CONFIG: file, AIRLOCK_POOLS: 'runc:3' }).pools.shapes.map((p) => p.size),
    [3],
  );
  assert.deepEqual(
    loadConfig({ pools: ['runc:1'] }, { AIRLOCK_CONFIG: file, AIRLOCK_POOLS: 'runc:3' }).pools.shapes.map((p) => p.size),
    [1],
  );
  assert.deepEqual(
    loadConfig({}, { AIRLOCK_CONFIG: file }).pools.shapes.map((p) => p.size),
    [9],
  );
});

test('the config file can give any shape and the refill budget', { timeout: 60_000 }, () => {
  const file = configFile({
    pools: [{ runtime: 'runc', size: 2, image: 'python:3.12-slim', memoryMiB: 256, diskMiB: 512, cpu: 0.5 }],
    poolRefillConcurrency: 2,
  });
  const c = loadConfig({}, { AIRLOCK_CONFIG: file });
  assert.deepEqual(c.pools, {
    shapes: [{ runtime: 'runc', size: 2, image: 'python:3.12-slim', cpu: 0.5, memoryMiB: 256, diskMiB: 512 }],
    refillConcurrency: 2,
    refillDelayMs: 100,
  });
});

test('malformed pools are refused with a message that says what to write', { timeout: 60_000 }, () => {
  for (const spec of ['gvisor', 'kvm:2', 'runc:-1', 'runc:two']) {
    assert.throws(
      () => loadConfig({ pools: [spec] }, env()),
      (e: unknown) => e instanceof ConfigError && /<runtime>:<size>/.test(e.message),
      spec,
    );
  }
  assert.throws(() => loadConfig({ pools: ['runc:1', 'runc:2'] }, env()), /same shape/);
  assert.throws(() => loadConfig({ pools: ['runc:1001'] }, env()), /more than the limit/);
  assert.throws(() => loadConfig({}, { AIRLOCK_CONFIG: configFile({ pools: [{ runtime: 'runc' }] }) }), /pools\.0\.size/);
  assert.throws(() => loadConfig({ poolRefillConcurrency: 0 }, env()), /at least 1/);
});

test('sandbox networks: DNS upstream from the flag, the environment, the file, then resolv.conf; a subnet per instance', () => {
  const file = configFile({ network: { dnsUpstream: ['9.9.9.9'], maxTtl: 120 } });
  assert.deepEqual(loadConfig({ dnsUpstream: ['1.1.1.1:5353'] }, { AIRLOCK_CONFIG: file, AIRLOCK_DNS_UPSTREAM: '8.8.8.8' }).network.dnsUpstream, [
    '1.1.1.1:5353',
  ]);
  assert.deepEqual(loadConfig({}, { AIRLOCK_CONFIG: file, AIRLOCK_DNS_UPSTREAM: '8.8.8.8' }).network.dnsUpstream, ['8.8.8.8']);
  const c = loadConfig({}, { AIRLOCK_CONFIG: file });
  assert.deepEqual([c.network.dnsUpstream, c.network.ttl], [['9.9.9.9'], { min: 30, max: 120 }]);
  const a = loadConfig({ dataDir: '/var/lib/a' }, env()).network;
  const b = loadConfig({ dataDir: '/var/lib/b' }, env()).network;
  assert.notEqual(a.tag, b.tag);
  assert.match(a.subnet, /^10\.(19[2-9]|2[0-5][0-9])\.\d+\.0\/20$/);
  assert.throws(() => loadConfig({ dnsUpstream: ['resolver.example'] }, env()), /IPv4 address/);
  assert.throws(() => loadConfig({}, { AIRLOCK_CONFIG: configFile({ network: { minTtl: 500, maxTtl: 100 } }) }), /minTtl/);
});

test('tenancy: quota defaults, per-key rate and audit retention from the file; null lifts a quota; bad values refused', { timeout: 60_000 }, () => {
  const d = loadConfig({}, env()).tenancy;
  assert.deepEqual(
    d.quotas,
    { sandboxes: null, cpu: null, memoryMiB: null, diskMiB: null, imageBytes: null, execs: null, pulls: null },
    'no limits: one user sees no change',
  );
  const c = loadConfig(
    {},
    { AIRLOCK_CONFIG: configFile({ tenancy: { quotas: { sandboxes: 10, execs: null }, rate: { perSecond: 5 }, audit: { maxAgeDays: 7 } } }) },
  ).tenancy;
  assert.deepEqual([c.quotas.sandboxes, c.quotas.execs, c.quotas.pulls, c.rate.perSecond, c.rate.burst, c.audit.maxAgeDays], [10, null, null, 5, 5000, 7]);
  assert.equal(
    loadConfig({ tenancy: { quotas: { sandboxes: 3 } } }, { AIRLOCK_CONFIG: configFile({ tenancy: { quotas: { sandboxes: 10 } } }) }).tenancy.quotas.sandboxes,
    3,
    'overrides win over the file',
  );
  for (const bad of [{ quotas: { sandboxes: -1 } }, { quotas: { nope: 1 } }, { rate: { perSecond: 0 } }, { audit: { maxEvents: 1 } }]) {
    assert.throws(() => loadConfig({}, { AIRLOCK_CONFIG: configFile({ tenancy: bad }) }), ConfigError, JSON.stringify(bad));
  }
});

test('creates share one turn per core by default; the file or a flag sets the bound, and nonsense is refused', { timeout: 60_000 }, () => {
  assert.equal(loadConfig({ hostCpus: 6 }, env()).limits.createConcurrency, 6);
  assert.equal(loadConfig({ hostCpus: 6 }, env({ AIRLOCK_CONFIG: configFile({ limits: { createConcurrency: 3 } }) })).limits.createConcurrency, 3);
  assert.equal(
    loadConfig({ limits: { createConcurrency: 1 } }, env({ AIRLOCK_CONFIG: configFile({ limits: { createConcurrency: 3 } }) })).limits.createConcurrency,
    1,
  );
  assert.throws(() => loadConfig({}, env({ AIRLOCK_CONFIG: configFile({ limits: { createConcurrency: 0 } }) })), ConfigError);
});
