import assert from 'node:assert/strict';
import { test } from 'node:test';
import { loadConfig } from '../config.js';
import { ProjectQuotas } from '../tenancy/quotas.js';
import { Admission } from './admission.js';

const size = { cpu: 1, memoryMiB: 64 };

test('a slot is freed only by its owner: a late second release cannot hand one uid range to two sandboxes', { timeout: 10_000 }, () => {
  const admission = new Admission(loadConfig({ dataDir: '/tmp/airlock-admission-unit' }, {}));
  const first = admission.reserve(size, 'sb-first');
  admission.release(first.slot, 'sb-first');
  const second = admission.reserve(size, 'sb-second');
  assert.equal(second.slot, first.slot, 'the freed slot is reused');
  // The first sandbox's create path releases again (a destroy already freed it): a no-op now.
  admission.release(first.slot, 'sb-first');
  const third = admission.reserve(size, 'sb-third');
  assert.notEqual(third.slot, second.slot, 'the slot still held by sb-second is not handed out');
  assert.notEqual(third.hostIds.base, second.hostIds.base);
  // Positive control: the owner's release does free it.
  admission.release(second.slot, 'sb-second');
  assert.equal(admission.reserve(size, 'sb-fourth').slot, second.slot);
});

test(
  "host capacity: memory is the host's minus the reserve, times the overcommit; CPU the cores times theirs; past either is 429 capacity",
  { timeout: 10_000 },
  () => {
    const base = loadConfig({ dataDir: '/tmp/airlock-admission-unit' }, {});
    const config = {
      ...base,
      machine: { ...base.machine, memoryMiB: 4096, cpus: 2 },
      limits: { ...base.limits, hostMemoryReserveMiB: 1024, memoryOvercommit: 1, cpuOvercommit: 2, maxSandboxes: 100 },
    };
    const admission = new Admission(config);
    assert.equal(admission.memoryBudgetMiB, 3072);
    assert.equal(admission.cpuBudget, 4);
    // One sandbox bigger than the host could ever give is a 400: retrying cannot help.
    assert.throws(
      () => admission.reserve({ cpu: 1, memoryMiB: 3073 }, 'sb-huge'),
      (e: any) => e.code === 'invalid_request' && /3072 MiB/.test(e.message),
    );
    assert.throws(
      () => admission.reserve({ cpu: 3, memoryMiB: 64 }, 'sb-wide'),
      (e: any) => e.code === 'invalid_request' && /2 cores/.test(e.message),
    );
    const a = admission.reserve({ cpu: 1, memoryMiB: 2048 }, 'sb-a');
    admission.reserve({ cpu: 1, memoryMiB: 1024 }, 'sb-b');
    assert.throws(
      () => admission.reserve({ cpu: 1, memoryMiB: 1 }, 'sb-c'),
      (e: any) => e.code === 'capacity' && /memory is taken/.test(e.message),
    );
    // Positive control: once memory is given back, the same ask fits; then CPU is what runs out.
    admission.release(a.slot, 'sb-a');
    admission.reserve({ cpu: 2, memoryMiB: 1 }, 'sb-c');
    assert.throws(
      () => admission.reserve({ cpu: 1.5, memoryMiB: 1 }, 'sb-d'),
      (e: any) => e.code === 'capacity' && /CPU is taken/.test(e.message),
    );
    admission.reserve({ cpu: 1, memoryMiB: 1 }, 'sb-e');
  },
);

test('a project being deleted takes no new sandbox, a pooled one included; reopened, it does', { timeout: 10_000 }, () => {
  const quotas = new ProjectQuotas(loadConfig({ dataDir: '/tmp/airlock-admission-unit' }, {}).tenancy.quotas);
  const admission = new Admission(loadConfig({ dataDir: '/tmp/airlock-admission-unit' }, {}), quotas);
  const pooled = admission.reserve(size, 'sb-pooled', null);
  quotas.close('gone');
  assert.throws(
    () => admission.reserve(size, 'sb-late', 'gone'),
    (e: any) => e.code === 'not_found' && /project gone/.test(e.message),
  );
  assert.throws(
    () => admission.assign(pooled.slot, 'sb-pooled', 'gone'),
    (e: any) => e.code === 'not_found',
  );
  assert.equal(admission.usage('gone').sandboxes, 0, 'nothing was counted for it');
  // Positive control: another project, and the same one reopened, are admitted.
  admission.reserve(size, 'sb-other', 'other');
  quotas.reopen('gone');
  admission.reserve(size, 'sb-back', 'gone');
  assert.equal(admission.usage('gone').sandboxes, 1);
});
