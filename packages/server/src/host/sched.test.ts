/**
 * The control plane's priority, judged by the kernel (/proc/<pid>/stat's policy field): a server
 * puts its event loop at the lowest real-time priority, nothing it starts afterwards inherits it
 * (a host command, a restarted spawner, a sandbox's processes), `controlPlane: 'normal'` leaves the
 * loop alone, and the last server to stop in a process puts it back.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { after, test } from 'node:test';
import { Worker } from 'node:worker_threads';
import { startTestServer, type TestServer } from '@airlock/testkit/harness.js';
import { Readable } from 'node:stream';
import { text } from 'node:stream/consumers';
import { filterThrough, runCommand } from './command.js';
import { sandboxCgroupPids } from './cgroups.js';
import { policyOfStat, schedPolicy, threadPolicies } from './sched.js';
import { spawnCommand } from './spawn-command.js';

const SCHED_OTHER = 0;
const SCHED_RR = 2;
/** The policy a freshly started command runs at, from its own /proc entry. */
const policyOfCommand = async (run: (argv: string[]) => Promise<{ stdout: string }>) => policyOfStat((await run(['cat', '/proc/self/stat'])).stdout);

const servers: TestServer[] = [];
after(async () => {
  for (const s of servers.splice(0)) await s.server.close();
});

test('a server raises its event loop and nothing it starts inherits it; the last to stop lowers it', { timeout: 5 * 60_000 }, async () => {
  assert.equal(schedPolicy(), SCHED_OTHER, 'a process starts at the normal policy');
  const a = await startTestServer();
  servers.push(a);
  assert.equal(schedPolicy(), SCHED_RR, 'the event loop is real-time');
  // Its helpers too (V8's GC workers, libuv's pool): a loop that waits on a normal-priority worker
  // behind the sandboxes is no faster than a normal loop.
  assert.deepEqual(new Set(threadPolicies()), new Set([SCHED_RR]), 'every thread of the server is real-time');
  const worker = new Worker('setTimeout(() => {}, 1000)', { eval: true });
  await once(worker, 'online');
  const policies = threadPolicies();
  await worker.terminate();
  assert.ok(policies.includes(SCHED_OTHER), 'a thread started afterwards (a worker) runs normal');
  // Forked by the loop itself: without the reset it would inherit the real-time policy.
  assert.equal(await policyOfCommand(spawnCommand), SCHED_OTHER, 'a fork of the loop starts normal (reset-on-fork)');
  assert.equal(await policyOfCommand(runCommand), SCHED_OTHER, 'a host command (through the spawner) runs normal');
  // A layer's codec (codec.ts) is tenant-asked work forked by the loop: it must not run ahead of sandboxes.
  const filtered = async (argv: string[]) => ({ stdout: await text(filterThrough(argv, Readable.from([]))) });
  assert.equal(await policyOfCommand(filtered), SCHED_OTHER, 'a stream filter runs normal');
  const sb = await a.api.call('POST', '/v1/sandboxes', { runtime: 'runc' });
  assert.equal(sb.status, 201);
  const pids = sandboxCgroupPids(sb.body.id);
  assert.ok(pids.length > 0);
  for (const pid of pids) assert.equal(schedPolicy(pid), SCHED_OTHER, `sandbox process ${pid} runs normal`);
  assert.equal((await a.api.call('DELETE', `/v1/sandboxes/${sb.body.id}`)).status, 200);

  const b = await startTestServer();
  servers.push(b);
  await servers.pop()!.server.close();
  assert.equal(schedPolicy(), SCHED_RR, 'another server in this process still runs: the loop stays raised');
  await servers.pop()!.server.close();
  assert.equal(schedPolicy(), SCHED_OTHER, 'the last server to stop lowers it');
  assert.deepEqual(new Set(threadPolicies()), new Set([SCHED_OTHER]), 'and its helper threads');
});

test("controlPlane: 'normal' leaves the event loop at the normal policy", { timeout: 5 * 60_000 }, async () => {
  const t = await startTestServer(undefined, { tenancy: { controlPlane: 'normal' } });
  servers.push(t);
  assert.equal(schedPolicy(), SCHED_OTHER);
  await servers.pop()!.server.close();
});
