/**
 * The command spawner on real processes: commands are forked by the spawner, not by this process
 * (judged by the command's own parent pid, with a fork here as the positive control), give the same
 * results as before (exit codes, output, input, timeouts, a missing program), and a spawner that
 * dies fails the command it ran and is replaced for the next one.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { runCommand } from './command.js';
import { spawnCommand } from './spawn-command.js';

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
