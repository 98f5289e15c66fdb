import assert from 'node:assert/strict';
import { test } from 'node:test';
import { bwrapArgv, UnsupportedMountError, type BwrapInput } from './bwrap-args.js';

const input: BwrapInput = {
  id: 'sb-aaaaaaaaaaaaaaaaaaaa',
  rootfs: {
    kind: 'directory',
    path: '/data/images/default/rootfs',
    readonly: true,
    mounts: [
      { destination: '/usr', type: 'bind', source: '/usr', options: ['rbind', 'ro', 'nosuid', 'nodev'] },
      { destination: '/usr/local', type: 'tmpfs', source: 'tmpfs', options: ['ro', 'mode=755', 'size=4k'] },
      { destination: '/tmp', type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'nodev', 'mode=1777', 'size=128m'] },
    ],
  },
  agentBinary: '/data/images/agent/airlock-agent',
  hostUid: 1_065_536,
  cgroupProcs: ['/sys/fs/cgroup/memory/airlock/x/cgroup.procs', '/sys/fs/cgroup/pids/airlock/x/cgroup.procs'],
  seccompBpf: '/data/runtime/bwrap/seccomp.bpf',
  memoryMiB: 128,
  procMasks: [
    { path: '/proc/kcore', dir: false },
    { path: '/proc/acpi', dir: true },
  ],
};

test('bwrap runs as the sandbox uid, joined to its cgroups, never as root', { timeout: 60_000 }, () => {
  const argv = bwrapArgv(input);
  const sh = argv.indexOf('/bin/sh');
  assert.deepEqual(argv.slice(0, 3), ['/usr/bin/env', '-i', 'PATH=/usr/sbin:/usr/bin:/sbin:/bin'], 'the server environment is not inherited');
  const launcher = argv[sh + 2]!;
  assert.match(launcher, /echo \$\$ > "\$1"/, 'the launcher joins each cgroup with its own pid');
  assert.match(launcher, /exec setpriv --reuid="\$uid" --regid="\$uid" --clear-groups/);
  assert.deepEqual(argv.slice(sh + 4, sh + 9), ['1065536', input.seccompBpf, '2', ...input.cgroupProcs]);
  assert.equal(argv[sh + 9], 'bwrap');
});

test('bwrap gets the isolation flags, the seccomp fd and the /proc masks', { timeout: 60_000 }, () => {
  const argv = bwrapArgv(input);
  const bwrap = argv.slice(argv.indexOf('bwrap'));
  for (const flag of ['--unshare-all', '--unshare-user', '--disable-userns', '--new-session', '--die-with-parent', '--as-pid-1', '--clearenv']) {
    assert.ok(bwrap.includes(flag), flag);
  }
  assert.equal(bwrap[bwrap.indexOf('--seccomp') + 1], '9');
  assert.deepEqual(bwrap.slice(bwrap.indexOf('/proc/kcore') - 2, bwrap.indexOf('/proc/kcore') + 1), ['--ro-bind', '/dev/null', '/proc/kcore']);
  assert.ok(bwrap.join(' ').includes('--tmpfs /proc/acpi --remount-ro /proc/acpi'));
  assert.ok(bwrap.join(' ').includes(`--perms 1777 --size ${128 * 1024 * 1024} --tmpfs /tmp`));
  assert.ok(bwrap.join(' ').includes('--perms 0755 --size 4096 --tmpfs /usr/local --remount-ro /usr/local'));
  assert.equal(bwrap.at(-1), '/.airlock/agent');
});

test('mounts bwrap cannot make are refused, not dropped', { timeout: 60_000 }, () => {
  const overlay = { ...input, rootfs: { ...input.rootfs, mounts: [{ destination: '/x', type: 'overlay', source: 'overlay', options: [] }] } };
  assert.throws(() => bwrapArgv(overlay), UnsupportedMountError);
});
