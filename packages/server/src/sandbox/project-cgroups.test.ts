/**
 * The per-project cgroup level on this machine's cgroup version, with real runc sandboxes: a
 * project's sandboxes run (their processes, judged on the host) under /airlock/project-<hash>/<id>,
 * the host work done for them (each sandbox's shim, which runs its runtime) in the level's ops leaf,
 * every project level holds the same CPU weight, the level goes with the project's last sandbox, a
 * restarted server finds the sandboxes again, a start in progress holds its level against the
 * removal of the project's last sandbox, and a flat cgroup (a pooled sandbox, or one of a server
 * from before the layout) is still found and removed by its id.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync, readdirSync, rmdirSync } from 'node:fs';
import { join } from 'node:path';
import { after, test } from 'node:test';
import {
  OPS_LEAF,
  PROJECT_CPU_WEIGHT,
  cgroupVersion,
  emptyProjectCgroups,
  holdProjectLevel,
  listSandboxCgroups,
  projectCgroupName,
  removeSandboxCgroups,
  sandboxCgroupDirs,
  sandboxCgroupPids,
} from '../host/cgroups.js';
import { eventually, newDataDir, projectWithKey, startTestServer, type TestServer } from '@airlock/testkit/harness.js';
import { remainsOf } from '@airlock/testkit/host-probe.js';

const cpuLevel = (project: string) =>
  cgroupVersion() === 2 ? `/sys/fs/cgroup/airlock/${projectCgroupName(project)}` : `/sys/fs/cgroup/cpu/airlock/${projectCgroupName(project)}`;
const weightOf = (dir: string) => Number(readFileSync(join(dir, cgroupVersion() === 2 ? 'cpu.weight' : 'cpu.shares'), 'utf8').trim());
const expectedWeight = cgroupVersion() === 2 ? PROJECT_CPU_WEIGHT.v2Weight : PROJECT_CPU_WEIGHT.v1Shares;
/** The cgroup the kernel has a host process in, for the cpu controller (v1) or the unified tree (v2). */
const cpuCgroupOf = (pid: number) => {
  const lines = readFileSync(`/proc/${pid}/cgroup`, 'utf8').split('\n');
  const line = cgroupVersion() === 2 ? lines.find((l) => l.startsWith('0::')) : lines.find((l) => /^\d+:([^:]*,)?cpu(,[^:]*)?:/.test(l));
  return line?.split(':')[2];
};

/** The host pid of the shim serving a sandbox, found by its argv (its socket is named for the sandbox). */
const shimOf = (id: string) =>
  readdirSync('/proc')
    .filter((e) => /^\d+$/.test(e))
    .map(Number)
    .find((pid) => {
      try {
        const argv = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
        return argv[0]!.endsWith('airlock-shim') && argv.some((a) => a.endsWith(`/${id}.sock`));
      } catch {
        return false;
      }
    });

const servers: TestServer[] = [];
after(async () => {
  for (const s of servers) await s.close();
});

test(
  'runc: a project’s sandboxes run under its own level with the project weight; the level goes with its last sandbox',
  { timeout: 10 * 60_000 },
  async () => {
    const dataDir = newDataDir('project-cgroups');
    const t = await startTestServer(dataDir);
    servers.push(t);
    const tag = Date.now().toString(36);
    const [p, q] = [`cg-p-${tag}`, `cg-q-${tag}`];
    const pApi = await projectWithKey(t.api, p);
    const qApi = await projectWithKey(t.api, q);
    const p1 = (await pApi.create({ runtime: 'runc' })).id as string;
    const p2 = (await pApi.create({ runtime: 'runc' })).id as string;
    const q1 = (await qApi.create({ runtime: 'runc' })).id as string;

    for (const [id, project] of [
      [p1, p],
      [p2, p],
      [q1, q],
    ] as const) {
      const pids = sandboxCgroupPids(id);
      assert.ok(pids.length > 0, `${id} has processes in its cgroup`);
      // Judged where the kernel schedules it: the sandbox's process is in the project's level.
      assert.equal(cpuCgroupOf(pids[0]!), `/airlock/${projectCgroupName(project)}/${id}`);
      assert.ok(sandboxCgroupDirs(id).every((d) => d.includes(`/airlock/${projectCgroupName(project)}/${id}`)));
      // The shim (and the runtime it ran) is the project's host work: charged to the level, beside its sandboxes.
      const shim = shimOf(id);
      assert.ok(shim !== undefined, `${id} has a shim on the host`);
      assert.equal(cpuCgroupOf(shim), `/airlock/${projectCgroupName(project)}/${OPS_LEAF}`);
    }
    assert.ok(!listSandboxCgroups().includes(OPS_LEAF), 'an ops leaf is not a sandbox');
    assert.notEqual(projectCgroupName(p), projectCgroupName(q), 'two projects, two levels');
    assert.equal(weightOf(cpuLevel(p)), expectedWeight);
    assert.equal(weightOf(cpuLevel(q)), expectedWeight);
    assert.ok(listSandboxCgroups().includes(p1) && listSandboxCgroups().includes(q1), 'listed under their levels');
    const stats = await pApi.call('GET', `/v1/sandboxes/${p1}/stats`);
    assert.equal(stats.status, 200, 'stats read the nested cgroup');
    assert.match(stats.body.source, new RegExp(`/airlock/${projectCgroupName(p)}/${p1}`));

    // A restarted server finds its sandboxes under the levels (nothing in memory says where they are).
    await t.server.close();
    servers.pop();
    const t2 = await startTestServer(dataDir);
    servers.push(t2);
    assert.equal((await t2.api.call('POST', `/v1/sandboxes/${p1}/exec`, { cmd: ['true'] })).status, 200, 'adopted after the restart');

    assert.equal((await t2.api.call('DELETE', `/v1/sandboxes/${p1}`)).status, 200);
    assert.ok(existsSync(cpuLevel(p)), 'the level stays while the project has a sandbox');
    assert.equal((await t2.api.call('DELETE', `/v1/sandboxes/${p2}`)).status, 200);
    // The release after a destroy's answer runs in the background.
    await eventually('the level goes with its last sandbox', () => !existsSync(cpuLevel(p)) || undefined);
    assert.ok(existsSync(cpuLevel(q)), 'another project’s level is untouched');
    assert.equal((await t2.api.call('DELETE', `/v1/sandboxes/${q1}`)).status, 200);
    await eventually('q’s level goes with its sandbox', () => !existsSync(cpuLevel(q)) || undefined);
    for (const id of [p1, p2, q1]) assert.deepEqual(remainsOf(id, dataDir).cgroups, [], `${id}: no cgroup left`);
    const levels = new Set([projectCgroupName(p), projectCgroupName(q)]);
    assert.deepEqual(
      emptyProjectCgroups().filter((d) => levels.has(d.split('/').at(-1)!)),
      [],
      'no empty level left in any hierarchy',
    );
  },
);

test('a level held by a start in progress outlives the removal of its last sandbox, and goes with the hold', () => {
  // A runtime makes the new sandbox's cgroups below the level while the previous sandbox's release
  // runs: runc failed with `mkdir …/cpuset/airlock/project-…/<id>: no such file or directory` when
  // the release removed the emptied level in between.
  const tag = Date.now().toString(36);
  const project = `held-${tag}`;
  const hierarchy = cgroupVersion() === 2 ? '/sys/fs/cgroup' : '/sys/fs/cgroup/pids';
  const level = join(hierarchy, 'airlock', projectCgroupName(project));
  const [old, next] = [`sb-held-old-${tag}`, `sb-held-next-${tag}`];
  mkdirSync(join(level, old), { recursive: true });
  try {
    const release = holdProjectLevel(project);
    assert.deepEqual(removeSandboxCgroups(old), []);
    assert.ok(existsSync(level), 'held: the level stays though its last sandbox went');
    mkdirSync(join(level, next)); // what the runtime does meanwhile: it would fail without the level
    assert.deepEqual(removeSandboxCgroups(next), []);
    assert.ok(existsSync(level), 'still held');
    release();
    assert.ok(!existsSync(level), 'the last hold to go removes the emptied level');
    release(); // twice is once
    // Positive control: the same removal without a hold takes the level at once.
    mkdirSync(join(level, old), { recursive: true });
    assert.deepEqual(removeSandboxCgroups(old), []);
    assert.ok(!existsSync(level));
  } finally {
    for (const d of [join(level, old), join(level, next), level]) if (existsSync(d)) rmdirSync(d);
  }
});

test('cgroups are found by id flat (pooled, or from before the layout) and nested, and removal takes an emptied level', () => {
  const tag = Date.now().toString(36);
  const hierarchy = cgroupVersion() === 2 ? '/sys/fs/cgroup' : '/sys/fs/cgroup/pids';
  const flatId = `sb-flat-${tag}`;
  const nestedId = `sb-nested-${tag}`;
  const level = join(hierarchy, 'airlock', projectCgroupName(`hand-${tag}`));
  mkdirSync(join(hierarchy, 'airlock', flatId), { recursive: true });
  mkdirSync(join(level, nestedId), { recursive: true });
  try {
    // Made by hand, never placed by this process: found by looking, as the next server finds them.
    assert.deepEqual(sandboxCgroupDirs(flatId), [join(hierarchy, 'airlock', flatId)]);
    assert.deepEqual(sandboxCgroupDirs(nestedId), [join(level, nestedId)]);
    assert.ok(listSandboxCgroups().includes(flatId) && listSandboxCgroups().includes(nestedId));
    assert.ok(!listSandboxCgroups().includes(projectCgroupName(`hand-${tag}`)), 'a level is not a sandbox');
    assert.deepEqual(removeSandboxCgroups(nestedId), []);
    assert.ok(!existsSync(level), 'the emptied level went with its sandbox');
    assert.deepEqual(removeSandboxCgroups(flatId), []);
    assert.deepEqual(sandboxCgroupDirs(flatId), []);
    assert.ok(existsSync(join(hierarchy, 'airlock')), 'the parent stays');
  } finally {
    for (const d of [join(level, nestedId), level, join(hierarchy, 'airlock', flatId)]) if (existsSync(d)) rmdirSync(d);
  }
});
