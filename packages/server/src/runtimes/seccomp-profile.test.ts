import assert from 'node:assert/strict';
import { test } from 'node:test';
import { readSystemSeccompProfile } from '../host/seccomp-source.js';
import { CAPABILITIES } from './oci-spec.js';
import { DENIED_SYSCALLS, buildSeccompProfile, unconditionallyAllowed, type DockerStyleProfile } from './seccomp-profile.js';

const source = readSystemSeccompProfile();
const system: DockerStyleProfile | undefined = 'profile' in source ? source.profile : undefined;

test(
  'the generated profile denies by default and never allows a reviewed deny',
  { timeout: 60_000, skip: system ? false : 'no system profile on this host' },
  () => {
    const p = buildSeccompProfile(system!, CAPABILITIES, { honoursErrnoRet: true });
    assert.equal(p.defaultAction, 'SCMP_ACT_ERRNO');
    const allowed = unconditionallyAllowed(p);
    // Positive control: ordinary calls stay allowed, so the profile is not simply empty.
    for (const name of ['read', 'write', 'openat', 'execve', 'wait4', 'rt_sigaction']) assert.ok(allowed.has(name), `${name} allowed`);
    for (const name of DENIED_SYSCALLS) assert.ok(!allowed.has(name), `${name} must not be allowed`);
    for (const name of ['clone', 'unshare', 'clone3']) assert.ok(!allowed.has(name), `${name} only with conditions`);
    const denyRule = p.syscalls.find((r) => r.action === 'SCMP_ACT_ERRNO' && r.names.includes('keyctl'));
    assert.equal(denyRule?.errnoRet, 1, 'keyctl gets EPERM');
  },
);

test(
  'rules that need a capability we drop are not taken from the system profile',
  { timeout: 60_000, skip: system ? false : 'no system profile on this host' },
  () => {
    const p = buildSeccompProfile(system!, CAPABILITIES, { honoursErrnoRet: true });
    const allowed = unconditionallyAllowed(p);
    // The system profile allows these only with CAP_SYS_ADMIN / CAP_SYS_PTRACE / CAP_SYS_TIME.
    for (const name of ['quotactl', 'fanotify_init', 'process_madvise', 'clock_settime']) assert.ok(!allowed.has(name), name);
    // ...and a profile built for a sandbox that held CAP_SYS_ADMIN would take them (the rule can fire).
    assert.ok(unconditionallyAllowed(buildSeccompProfile(system!, [...CAPABILITIES, 'CAP_SYS_ADMIN'], { honoursErrnoRet: true })).has('quotactl'));
  },
);

test('clone and unshare are allowed only without namespace flags; mknod never makes devices', { timeout: 60_000 }, () => {
  const p = buildSeccompProfile({ syscalls: [{ names: ['clone', 'unshare', 'mknod', 'read'], action: 'SCMP_ACT_ALLOW' }] }, CAPABILITIES, {
    honoursErrnoRet: true,
  });
  const unshare = p.syscalls.filter((r) => r.names.includes('unshare'));
  assert.equal(unshare[0]?.action, 'SCMP_ACT_ALLOW');
  assert.equal(unshare[0]?.args?.[0]?.valueTwo, 0);
  assert.ok(((unshare[0]?.args?.[0]?.value ?? 0) & 0x10000000) !== 0, 'the allow rule requires CLONE_NEWUSER clear');
  assert.ok(unshare.some((r) => r.action === 'SCMP_ACT_ERRNO' && r.args?.[0]?.value === 0x10000000 && r.args?.[0]?.valueTwo === 0x10000000));
  const clone = p.syscalls.find((r) => r.names.includes('clone') && r.action === 'SCMP_ACT_ALLOW');
  assert.equal((clone?.args?.[0]?.value ?? 0) & 0xff, 0, "clone's mask leaves the exit-signal byte alone");
  const mknod = p.syscalls.filter((r) => r.names.includes('mknod'));
  assert.ok(
    mknod.some((r) => r.action === 'SCMP_ACT_ERRNO' && r.args?.[0]?.index === 1 && r.args?.[0]?.valueTwo === 0o020000),
    'char devices refused',
  );
  assert.ok(
    mknod.some((r) => r.action === 'SCMP_ACT_ALLOW' && r.args?.[0]?.valueTwo === 0o010000),
    'FIFOs allowed',
  );
  assert.ok(unconditionallyAllowed(p).has('read'));
  assert.ok(!unconditionallyAllowed(p).has('mknod'));
});

test("an audit socket fails the way shadow tools (useradd) accept: EINVAL, or the sentry's own answer on runsc", () => {
  const audit = (p: ReturnType<typeof buildSeccompProfile>) =>
    p.syscalls.find(
      (r) => r.names.includes('socket') && r.args?.some((a) => a.index === 2 && a.value === 9) && r.args?.some((a) => a.index === 0 && a.value === 16),
    );
  assert.deepEqual((({ action, errnoRet }) => ({ action, errnoRet }))(audit(buildSeccompProfile({ syscalls: [] }, CAPABILITIES, { honoursErrnoRet: true }))!), {
    action: 'SCMP_ACT_ERRNO',
    errnoRet: 22,
  });
  assert.equal(audit(buildSeccompProfile({ syscalls: [] }, CAPABILITIES, { honoursErrnoRet: false }))!.action, 'SCMP_ACT_ALLOW');
});

test("gVisor's profile names pselect6 as its sentry does, so glibc's select() is allowed there", { timeout: 60_000 }, () => {
  const sys: DockerStyleProfile = { syscalls: [{ names: ['pselect6', 'read'], action: 'SCMP_ACT_ALLOW' }] };
  const sentry = unconditionallyAllowed(buildSeccompProfile(sys, CAPABILITIES, { honoursErrnoRet: false, sentryNames: true }));
  assert.ok(sentry.has('pselect') && sentry.has('pselect6'), 'both names allowed for runsc');
  // Control: the Linux-kernel profile stays as the system profile names it.
  const kernel = unconditionallyAllowed(buildSeccompProfile(sys, CAPABILITIES, { honoursErrnoRet: true }));
  assert.ok(kernel.has('pselect6') && !kernel.has('pselect'));
});
