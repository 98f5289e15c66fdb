import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { confineToGuest, problems, summarize, type ChannelResult, type Scoreboard } from './scoreboard.js';
import { renderMarkdown } from './scoreboard-markdown.js';
import { judge } from './security-suite.js';

const board = (probes: Scoreboard['runtimes'][0]['probes'], more: Partial<Scoreboard> = {}): Scoreboard => ({
  generatedAt: 'now',
  host: { kernel: 'k', cpus: 2, sysctls: {} },
  runtimes: [{ runtime: 'runc', probes, attacks: [], channel: [] }],
  layers: [],
  channelControls: [],
  fairness: [],
  frameSeed: 1,
  notRun: [],
  hostChecks: [],
  ...more,
});
const blocked = judge('C4.bpf', { id: 'C4.bpf', fired: false, detail: 'EPERM' }, { fired: true, detail: 'EINVAL' });

describe('the security gate', { timeout: 10_000 }, () => {
  test('a probe whose control did not fire is reported as broken, not as passed', () => {
    const b = board([judge('C4.bpf', { id: 'C4.bpf', fired: false, detail: 'EPERM' }, { fired: false, detail: 'bpf: EPERM' })]);
    assert.deepEqual(summarize(b.runtimes[0]!).controlsPassed, 0);
    assert.match(problems(b, { runc: { 'C4.bpf': 'blocked' } }).join('\n'), /positive control did not fire/);
  });

  test('a target the host itself lacks makes the probe not applicable', () => {
    const r = judge('C2.kexec-load', { id: 'C2.kexec-load', fired: false, detail: 'x' }, { fired: false, detail: 'kexec_load: ENOSYS' });
    assert.deepEqual([r.verdict, r.control], ['not applicable', 'not applicable']);
  });

  test('an escape and a changed verdict both fail the run', () => {
    const b = board([judge('C4.bpf', { id: 'C4.bpf', fired: true, detail: 'bpf: EINVAL' }, { fired: true, detail: 'bpf: EINVAL' })]);
    const found = problems(b, { runc: { 'C4.bpf': 'blocked' } }).join('\n');
    assert.match(found, /expected blocked, got escaped/);
    assert.match(found, /ESCAPED/);
    assert.deepEqual(problems(board([blocked]), { runc: { 'C4.bpf': 'blocked' } }), []);
    assert.match(problems(b, {}).join('\n'), /no expected verdicts reviewed/);
  });

  test('an observed escape wins over "not applicable"', () => {
    const r = judge('C2.kexec-load', { id: 'C2.kexec-load', fired: true, detail: 'kexec_load returned 0' }, { fired: false, detail: 'kexec_load: ENOSYS' });
    assert.equal(r.verdict, 'escaped');
  });

  test('a probe that crashed is an error that fails the run, never blocked', () => {
    const crashed = judge('C4.bpf', { id: 'C4.bpf', error: 'OSError: boom' }, { fired: true, detail: 'EINVAL' });
    const silent = judge('C4.bpf', undefined, { fired: true, detail: 'EINVAL' });
    assert.deepEqual([crashed.verdict, silent.verdict], ['error', 'error']);
    // Even a reviewed "error" verdict fails: a crash is never an accepted outcome.
    assert.match(problems(board([crashed]), { runc: { 'C4.bpf': 'error' } }).join('\n'), /ERROR, the probe crashed/);
    assert.equal(summarize(board([crashed]).runtimes[0]!).blocked, 0);
  });

  test('a crashed control is no evidence that the host lacks the target', () => {
    const r = judge(
      'B3.kcore',
      { id: 'B3.kcore', fired: false, detail: 'EACCES' },
      { fired: false, detail: 'control crashed: [Errno 2] No such file', error: 'x' },
    );
    assert.deepEqual([r.verdict, r.control], ['blocked', 'failed']);
  });

  test('an expected runtime or layer that did not run fails, unless the operator narrowed the runtimes', () => {
    const expected = { runc: { 'C4.bpf': 'blocked' }, gvisor: { 'C4.bpf': 'blocked' }, 'runc-no-seccomp': { 'C4.bpf': 'escaped' } };
    const found = problems(board([blocked]), expected).join('\n');
    assert.match(found, /gvisor: expected, but it did not run/);
    assert.match(found, /runc-no-seccomp: expected, but it did not run/);
    const narrowed = board([blocked], { notRun: [{ runtime: 'gvisor', reason: 'narrowed' }] });
    assert.match(problems(narrowed, expected).join('\n'), /runc-no-seccomp/);
    assert.doesNotMatch(problems(narrowed, expected).join('\n'), /gvisor/);
    const noRunc = {
      ...board([], { notRun: [{ runtime: 'runc', reason: 'narrowed' }] }),
      runtimes: [{ runtime: 'gvisor', probes: [blocked], attacks: [], channel: [] }],
    };
    assert.deepEqual(problems(noRunc, expected), []);
  });

  test('an uncaught hostile frame, a channel escape and an unfair flood fail the run', () => {
    const escaped: ChannelResult = { id: 'J1.frames-root', verdict: 'escaped', detail: 'server died', control: 'passed', controlDetail: '', attacks: 3 };
    const b = board([blocked], {
      runtimes: [{ runtime: 'runc', probes: [blocked], attacks: [], channel: [escaped] }],
      channelControls: [{ runtime: 'runc', frames: 'length-zero', caught: false, detail: 'still running' }],
      fairness: [
        {
          name: 'flood',
          flooders: 3,
          before: { n: 1, medianMs: 1, p90Ms: 1, maxMs: 1 },
          during: { n: 1, medianMs: 900, p90Ms: 900, maxMs: 900 },
          flooderOutcomes: [],
          serverCpuPercent: { before: 1, during: 2 },
          ok: false,
          bound: 'b',
          detail: 'too slow',
        },
      ],
    });
    const found = problems(b, { runc: { 'C4.bpf': 'blocked', 'J1.frames-root': 'escaped' } }).join('\n');
    assert.match(found, /J1.frames-root: ESCAPED/);
    assert.match(found, /length-zero: NOT caught/);
    assert.match(found, /fairness flood: too slow/);
    assert.equal(summarize(b.runtimes[0]!).channelAttacks, 3);
    assert.match(renderMarkdown(b), /Hostile agent channel/);
  });
  test('a kernel-surface probe that fires in a microVM is guest only, but only with the host shown untouched', () => {
    const fired = (id: string) => judge(id, { id, fired: true, detail: 'got through' }, { fired: true, detail: 'host: got through' });
    const vm = (ownKernel: { distinct: boolean; detail: string } | undefined, hostOk: boolean, runtime = 'microvm'): Scoreboard =>
      board([], {
        runtimes: [
          {
            runtime,
            probes: [fired('B2.core-pattern'), fired('C1.mount'), fired('B1.canary-read'), fired('B2.canary-write'), blocked],
            attacks: [],
            channel: [],
            ...(ownKernel ? { ownKernel } : {}),
          },
        ],
        hostChecks: [{ name: '/proc/sys/kernel/core_pattern', ok: hostOk, detail: hostOk ? 'unchanged' : 'core -> |/x' }],
      });
    const own = new Set(['microvm']);
    const verdicts = (b: Scoreboard) => b.runtimes[0]!.probes.map((p) => p.verdict);
    const proven = confineToGuest(vm({ distinct: true, detail: 'boot id a… inside, b… on the host' }, true), own);
    // The host's files stay escapes whatever kernel the sandbox has; the controls are unchanged.
    assert.deepEqual(verdicts(proven), ['guest only', 'guest only', 'escaped', 'escaped', 'blocked']);
    assert.ok(proven.runtimes[0]!.probes.every((p) => p.control === 'passed'));
    assert.equal(summarize(proven.runtimes[0]!).guestOnly, 2);
    assert.match(renderMarkdown(proven), /\| guest only \|/);
    const gate = problems(proven, {
      microvm: { 'B2.core-pattern': 'guest only', 'C1.mount': 'guest only', 'B1.canary-read': 'escaped', 'B2.canary-write': 'escaped', 'C4.bpf': 'blocked' },
    }).join('\n');
    assert.doesNotMatch(gate, /B2\.core-pattern|C1\.mount/, 'a guest-only verdict is not an escape');
    assert.match(gate, /B1\.canary-read: ESCAPED/);
    // No proof, no downgrade: a host check that changed, the same kernel, no boot id, or a runtime that shares the host's kernel.
    for (const b of [
      vm({ distinct: true, detail: '' }, false),
      vm({ distinct: false, detail: 'same' }, true),
      vm(undefined, true),
      vm({ distinct: true, detail: '' }, true, 'runc'),
    ]) {
      assert.deepEqual(verdicts(confineToGuest(b, own)), ['escaped', 'escaped', 'escaped', 'escaped', 'blocked']);
    }
    assert.deepEqual(
      verdicts(confineToGuest({ ...vm({ distinct: true, detail: '' }, true), hostChecks: [] }, own)).slice(0, 2),
      ['escaped', 'escaped'],
      'no host checks is no proof',
    );
  });
});
