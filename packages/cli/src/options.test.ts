import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { InvalidArgumentError } from 'commander';
import type { NetworkSettings } from '@airlock/protocol';
import { collectKeyValue, createParams, netSetSettings, parseInteger, parseKeyValue, parsePeers, parsePositive } from './options.js';

describe('K=V flags', { timeout: 60_000 }, () => {
  it('splits at the first =, keeping = and empty values', () => {
    assert.deepEqual(parseKeyValue('A=1'), ['A', '1']);
    assert.deepEqual(parseKeyValue('URL=a=b'), ['URL', 'a=b']);
    assert.deepEqual(parseKeyValue('EMPTY='), ['EMPTY', '']);
  });

  it('rejects a missing key or =', () => {
    assert.throws(() => parseKeyValue('=1'), InvalidArgumentError);
    assert.throws(() => parseKeyValue('NOVALUE'), InvalidArgumentError);
  });

  it('collects repeats, the last value of a key winning', () => {
    let acc = collectKeyValue('A=1', undefined);
    acc = collectKeyValue('B=2', acc);
    acc = collectKeyValue('A=3', acc);
    assert.deepEqual(acc, { A: '3', B: '2' });
  });
});

describe('number flags', { timeout: 60_000 }, () => {
  it('parses whole and positive numbers', () => {
    assert.equal(parseInteger('512'), 512);
    assert.throws(() => parseInteger('1.5'), InvalidArgumentError);
    assert.throws(() => parseInteger('-1'), InvalidArgumentError);
    assert.throws(() => parseInteger('abc'), InvalidArgumentError);
    assert.equal(parsePositive('0.5'), 0.5);
    assert.throws(() => parsePositive('0'), InvalidArgumentError);
    assert.throws(() => parsePositive(''), InvalidArgumentError);
  });
});

describe('createParams', { timeout: 60_000 }, () => {
  it('maps only the flags given', () => {
    assert.deepEqual(createParams({}), {});
    assert.deepEqual(createParams({ runtime: 'runc', memory: 256, cpus: 0.5, env: { A: '1' } }, 60, { team: 'ml' }), {
      runtime: 'runc',
      memoryMiB: 256,
      cpu: 0.5,
      env: { A: '1' },
      timeout: 60,
      metadata: { team: 'ml' },
    });
  });
  it("--allow/--deny/--network become the create's network", () => {
    assert.deepEqual(createParams({ allow: ['pypi.org', '10.1.2.0/24:5432'] }).network, { egress: { allow: ['pypi.org', '10.1.2.0/24:5432'], deny: [] } });
    assert.deepEqual(createParams({ network: 'all' }).network, { egress: 'all' });
    assert.equal(createParams({}).network, undefined);
    assert.throws(() => createParams({ network: 'none', allow: ['a.example'] }), /either --network or --allow/);
  });
  it('--peers goes with the network, and alone gives one (egress none)', () => {
    assert.deepEqual(createParams({ peers: 'project' }).network, { peers: 'project' });
    assert.deepEqual(createParams({ network: 'all', peers: 'project' }).network, { egress: 'all', peers: 'project' });
    assert.deepEqual(createParams({ allow: ['pypi.org'], peers: 'none' }).network, { egress: { allow: ['pypi.org'], deny: [] }, peers: 'none' });
    assert.throws(() => parsePeers('all'), /expected none or project/);
  });
  it('net set keeps what its flags do not name', () => {
    const current: NetworkSettings = { egress: { allow: ['pypi.org'], deny: [] }, peers: 'project', bandwidthMbit: 10, publicPorts: true };
    assert.deepEqual(netSetSettings(current, { peers: 'none' }), { ...current, peers: 'none' });
    assert.deepEqual(netSetSettings(current, { network: 'all' }), { ...current, egress: 'all' });
    assert.deepEqual(netSetSettings(current, {}), { ...current, egress: 'none' }, 'no flag at all: egress none, as before');
  });
});
