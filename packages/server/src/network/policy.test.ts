import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { PlatformDenySet } from './deny-set.js';
import { cidr, parseIPv4 } from './ipv4.js';
import { normaliseName } from './names.js';
import { checkAddress, checkName, mayResolve, parseEntry, parsePolicy } from './policy.js';

const deny = new PlatformDenySet(cidr('10.200.0.0/16'), [parseIPv4('192.0.2.2')!]);
const ip = (s: string) => parseIPv4(s)!;

describe('policy entries and matching', { timeout: 10_000 }, () => {
  test('names normalise once: case, trailing dot, IDN, fullwidth; IP-looking names are refused', () => {
    assert.deepEqual(normaliseName('PyPI.org.'), { name: 'pypi.org' });
    assert.deepEqual(normaliseName('Bücher.de'), { name: 'xn--bcher-kva.de' });
    assert.deepEqual(normaliseName('ｅｘａｍｐｌｅ.com'), { name: 'example.com' });
    for (const bad of ['2130706433', '127.1', 'a..b', '-a.com', 'a b.com', `${'x'.repeat(64)}.com`, '']) assert.ok('error' in normaliseName(bad), bad);
  });

  test('entries: domains, wildcards, addresses, CIDRs, ports, ranges and protocols', () => {
    const r = parseEntry('10.1.2.0/24:5432/tcp');
    assert.ok(!('error' in r) && r.target.kind === 'cidr' && r.ports.lo === 5432 && r.protocols.join() === 'tcp');
    const w = parseEntry('*.githubusercontent.com:1000-2000');
    assert.ok(!('error' in w) && w.target.kind === 'wildcard' && w.ports.hi === 2000 && w.protocols.length === 2);
    const errors: [string, RegExp][] = [
      ['foo.*.com', /leftmost label/],
      ['*.com', /top-level/],
      ['10.0.0.1/8', /host bits/],
      ['010.0.0.1', /no leading zeros/],
      ['1.2.3.4:0', /1-65535/],
      ['1.2.3.4:9-3', /lo <= hi/],
      ['[::1]:80', /IPv6/],
      ['fd00:ec2::254', /IPv6/],
      ['a.com:http', /port/],
      [' a.com', /spaces/],
    ];
    for (const [e, m] of errors) {
      const p = parseEntry(e);
      assert.ok('error' in p, e);
      assert.match(p.error, m, e);
    }
  });

  test('a policy names every bad entry, refuses the hard deny set and caps its size', () => {
    assert.throws(
      () => parsePolicy({ allow: ['ok.example', '169.254.169.254', 'bad*.x'], deny: ['10.0.0.0/33'] }, deny),
      (e: Error & { issues?: { path: string }[] }) => e.issues?.map((i) => i.path).join() === 'egress.allow[1],egress.allow[2],egress.deny[0]',
    );
    assert.throws(() => parsePolicy({ allow: ['10.200.3.2'], deny: [] }, deny), /sandbox network/);
    assert.throws(() => parsePolicy({ allow: ['192.0.2.2:7070'], deny: [] }, deny), /address of the host/);
    assert.throws(() => parsePolicy({ allow: Array.from({ length: 257 }, (_, i) => `h${i}.example`), deny: [] }, deny), /at most 256/);
  });

  test('matching is exact at label boundaries and deny wins', () => {
    const p = parsePolicy({ allow: ['example.com:443', '*.cdn.example.net', '10.1.2.0/24:5432/tcp'], deny: ['bad.cdn.example.net'] }, deny);
    assert.equal(mayResolve(p, 'example.com'), true);
    assert.equal(mayResolve(p, 'www.example.com'), false);
    assert.equal(mayResolve(p, 'notexample.com'), false);
    assert.equal(mayResolve(p, 'a.cdn.example.net'), true);
    assert.equal(mayResolve(p, 'cdn.example.net'), false, 'a wildcard does not cover its base');
    assert.equal(mayResolve(p, 'bad.cdn.example.net'), false);
    assert.equal(checkName(p, 'example.com', 443, 'tcp').allowed, true);
    assert.equal(checkName(p, 'example.com', 80, 'tcp').allowed, false);
    assert.equal(checkAddress(p, deny, ip('10.1.2.9'), 5432, 'tcp').allowed, true);
    assert.equal(checkAddress(p, deny, ip('10.1.2.9'), 22, 'tcp').allowed, false);
    assert.equal(checkAddress(p, deny, ip('10.9.9.9')).allowed, false, 'private, not named');
    assert.equal(checkAddress(p, deny, ip('8.8.8.8')).allowed, true, 'public: the name decided');
  });

  test('`all` resolves everything but never reaches the deny set; `none` nothing', () => {
    const all = parsePolicy('all', deny);
    assert.equal(mayResolve(all, 'anything.example'), true);
    for (const a of ['169.254.169.254', '100.100.100.200', '127.0.0.1', '10.200.0.2', '192.0.2.2', '10.0.0.1', '100.64.0.1', '224.0.0.1']) {
      assert.equal(checkAddress(all, deny, ip(a), 80, 'tcp').allowed, false, a);
    }
    assert.equal(checkAddress(all, deny, ip('203.0.113.5'), 80, 'tcp').allowed, true);
    const none = parsePolicy('none', deny);
    assert.equal(mayResolve(none, 'example.com'), false);
    assert.equal(checkAddress(none, deny, ip('203.0.113.5'), 80, 'tcp').allowed, false);
  });
});
