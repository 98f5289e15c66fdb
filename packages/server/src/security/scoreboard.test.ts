import assert from 'node:assert/strict';
import { test } from 'node:test';
import { problems, summarize, type Scoreboard } from './scoreboard.js';
import { judge } from './security-suite.js';

const board = (probes: Scoreboard['runtimes'][0]['probes']): Scoreboard => ({
  generatedAt: 'now',
  host: { kernel: 'k', cpus: 2, sysctls: {} },
  runtimes: [{ runtime: 'runc', probes, attacks: [] }],
  hostChecks: [],
});

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
  assert.deepEqual(problems(board([judge('C4.bpf', { id: 'C4.bpf', fired: false, detail: 'EPERM' }, { fired: true, detail: 'EINVAL' })]), { runc: { 'C4.bpf': 'blocked' } }), []);
  assert.match(problems(b, {}).join('\n'), /no expected verdicts reviewed/);
});
