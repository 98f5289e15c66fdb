/**
 * The command spawner on real processes: commands are forked by the spawner, not by this process
 * (judged by the command's own parent pid, with a fork here as the positive control), give the same
 * results as before (exit codes, output, input, timeouts, a missing program), and a spawner that
 * dies fails the command it ran and is replaced for the next one. A command can be charged to
 * cgroups (judged by the kernel's /proc/<pid>/cgroup of the command itself, before it forks
 * anything), and a detached program (the shim) is started by the spawner and outlives its start.
 */
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, rmdirSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { cgroupVersion } from './cgroups.js';
import { runCommand } from './command.js';
import { DetachedStartError, spawnCommand } from './spawn-command.js';
import { detachInSpawner } from './spawner.js';

const parentOf = async (run: typeof runCommand) => Number((await run(['sh', '-c', 'echo $PPID'])).stdout.trim());

test('commands are forked by the spawner, not by the server', async () => {
  assert.equal(await parentOf(spawnCommand), process.pid, 'positive control: a fork here has this process as its parent');
  const spawner = await parentOf(runCommand);
  assert.notEqual(spawner, process.pid);
  assert.equal(await parentOf(runCommand), spawner, 'one long-lived spawner');
});

test('the spawner gives the results a fork here gives', async () => {
  assert.deepEqual(await runCommand(['sh', '-c', 'echo out; echo err >&2; exit 3']), { code: 3, signal: null, stdout: 'out\n', stderr: 'err\n' });
  assert.deepEqual(await runCommand(['cat'], { input: 'in' }), { code: 0, signal: null, stdout: 'in', stderr: '' });
  assert.deepEqual(await runCommand(['sleep', '30'], { timeoutMs: 100 }), { code: null, signal: 'SIGKILL', stdout: '', stderr: '' });
  await assert.rejects(runCommand(['/nonexistent-airlock-program']), (e: NodeJS.ErrnoException) => e.code === 'ENOENT');
});

test('a spawner that dies fails what it ran and is replaced', async () => {
  const spawner = await parentOf(runCommand);
  const running = runCommand(['sleep', '3']);
  await new Promise((r) => setTimeout(r, 200));
  process.kill(spawner, 'SIGKILL');
  await assert.rejects(running, /spawner exited/);
  const next = await parentOf(runCommand);
  assert.notEqual(next, spawner);
  assert.notEqual(next, process.pid);
});

/** A cgroup of this test's own, in the cpu hierarchy (v1) or the unified tree (v2), and its procs file. */
function testCgroup(name: string): { dir: string; procs: string; line: RegExp } {
  const dir = cgroupVersion() === 2 ? join('/sys/fs/cgroup', name) : join('/sys/fs/cgroup/cpu', name);
  mkdirSync(dir, { recursive: true });
  const line = cgroupVersion() === 2 ? new RegExp(`^0::/${name}$`, 'm') : new RegExp(`^\\d+:([^:]*,)?cpu(,[^:]*)?:/${name}$`, 'm');
  return { dir, procs: join(dir, 'cgroup.procs'), line };
}

test('a command charged to a cgroup runs in it from its first instruction; one that cannot be joined still runs', async () => {
  const cg = testCgroup(`airlock-spawner-test-${process.pid}`);
  try {
    const plain = await runCommand(['cat', '/proc/self/cgroup']);
    assert.doesNotMatch(plain.stdout, cg.line, 'positive control: uncharged, it is not there');
    const charged = await runCommand(['cat', '/proc/self/cgroup'], { cgroupProcs: [cg.procs] });
    assert.equal(charged.code, 0);
    assert.match(charged.stdout, cg.line, 'the command itself (cat, exec’d in place) is in the cgroup');
    const args = await runCommand(['sh', '-c', 'echo "$#:$1:$2"', 'sh', 'a b', '$x'], { cgroupProcs: [cg.procs] });
    assert.equal(args.stdout, '2:a b:$x\n', 'argv passes through the join untouched');
    const gone = await runCommand(['echo', 'ran'], { cgroupProcs: ['/sys/fs/cgroup/no-such-airlock-cgroup/cgroup.procs'] });
    assert.deepEqual([gone.code, gone.stdout], [0, 'ran\n'], 'best effort: a level removed in between does not fail the command');
  } finally {
    rmdirSync(cg.dir);
  }
});

test('a detached program is started by the spawner, charged to its cgroup, and outlives its start', async () => {
  const cg = testCgroup(`airlock-spawner-detached-${process.pid}`);
  let pid: number | undefined;
  try {
    const started = await detachInSpawner(['sh', '-c', 'echo ok; exec >&-; exec sleep 30'], { timeoutMs: 10_000, cgroupProcs: [cg.procs] });
    pid = started.pid;
    assert.equal(started.stdout, 'ok\n');
    assert.ok(readFileSync(`/proc/${pid}/stat`, 'utf8').length > 0, 'still running after it closed its stdout');
    assert.match(readFileSync(`/proc/${pid}/cgroup`, 'utf8'), cg.line);
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const [ppid, , sid] = stat
      .slice(stat.lastIndexOf(')') + 2)
      .split(' ')
      .slice(1, 4)
      .map(Number);
    assert.notEqual(ppid, process.pid, 'forked by the spawner');
    assert.equal(sid, pid, 'in a session of its own');
    await assert.rejects(
      detachInSpawner(['sleep', '30'], { timeoutMs: 200 }),
      (e: unknown) => e instanceof DetachedStartError && e.timedOut,
      'one that never says it is up is killed at its timeout',
    );
  } finally {
    if (pid !== undefined) process.kill(pid, 'SIGKILL');
    await new Promise((r) => setTimeout(r, 100));
    rmdirSync(cg.dir);
  }
});
