/**
 * The coding-agent loop of issue 13, end to end through the SDK, as a new user would do it: write a
 * project, start its dev server in the background, tail its log from another client, answer an
 * interactive prompt through a PTY, restart the Airlock server (kill -9), reattach to the dev server
 * with its output continuous, and watch a directory while files change.
 */
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { after, test } from 'node:test';
import { Airlock } from '@airlock/sdk';
import { TEST_KEY, newDataDir, recordSandbox } from '@airlock/testkit';
import { spawnServer } from '@airlock/testkit/spawn-server.js';

const children: ChildProcess[] = [];
after(() => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
});

const text = (chunks: Uint8Array[]) => Buffer.concat(chunks).toString();

test('a coding agent loop: project, dev server, tail, PTY prompt, server restart, reattach, watch', { timeout: 240_000 }, async () => {
  const dataDir = newDataDir('agent-loop');
  const first = await spawnServer(dataDir, children);
  const airlock = new Airlock({ url: first.api.url, apiKey: TEST_KEY });
  const sandbox = await airlock.sandboxes.create({ runtime: 'runc' });
  recordSandbox(sandbox.id);

  // Write a project.
  await sandbox.files.writeMany([
    { path: '/home/user/app/server.py', data: 'import time\nfor i in range(1, 301):\n    print(f"request {i}", flush=True)\n    time.sleep(0.02)\n' },
    { path: '/home/user/app/ask.py', data: 'name = input("project name? ")\nprint(f"created {name}")\n' },
  ]);

  // Start its dev server in the background.
  const dev = await sandbox.processes.start(['python3', 'server.py'], { tag: 'dev-server', cwd: '/home/user/app' });

  // Tail its log from another client.
  const other = (await new Airlock({ url: first.api.url, apiKey: TEST_KEY }).sandboxes.get(sandbox.id)).processes;
  const seen: Uint8Array[] = [];
  for await (const ev of other.output(dev.id)) {
    if (ev.type === 'stdout') seen.push(ev.data);
    if (text(seen).includes('request 5\n')) break;
  }
  assert.match(text(seen), /^request 1\nrequest 2\n/);

  // Answer an interactive prompt through a PTY.
  const out: Uint8Array[] = [];
  const pty = await sandbox.pty.create({ cols: 80, rows: 24, cmd: ['python3', '/home/user/app/ask.py'], onData: (d) => out.push(d) });
  for (let i = 0; i < 200 && !text(out).includes('project name? '); i++) await new Promise((r) => setTimeout(r, 50));
  pty.write('airlock\r');
  assert.equal((await pty.wait()).exitCode, 0);
  assert.match(text(out), /created airlock/);

  // Restart the Airlock server, the hard way.
  first.child.kill('SIGKILL');
  await new Promise((r) => first.child.once('exit', r));
  const second = await spawnServer(dataDir, children);
  try {
    const again = await new Airlock({ url: second.api.url, apiKey: TEST_KEY }).sandboxes.get(sandbox.id);
    const listed = await again.processes.list({ tag: 'dev-server' });
    assert.deepEqual(
      listed.map((p) => p.id),
      [dev.id],
      'the dev server is listed again',
    );

    // Reattach: the output is continuous, from the first byte to the last.
    const a = await again.processes.connect(dev.id, { offset: 0 });
    const all: Uint8Array[] = [];
    a.onData((d) => all.push(d));
    assert.equal((await a.wait()).exitCode, 0);
    assert.equal(text(all), Array.from({ length: 300 }, (_, i) => `request ${i + 1}\n`).join(''));

    // Watch a directory while files change.
    const abort = new AbortController();
    const events = await again.files.watch('/home/user/app', { signal: abort.signal });
    await again.files.write('/home/user/app/feature.py', 'print("new")\n');
    await again.exec(['rm', '/home/user/app/ask.py']);
    const got: string[] = [];
    for await (const ev of events) {
      got.push(`${ev.type}:${ev.path}`);
      if (got.includes('remove:ask.py')) break;
    }
    abort.abort();
    assert.ok(got.includes('rename_to:feature.py') && got.indexOf('rename_to:feature.py') < got.indexOf('remove:ask.py'), got.join(' '));
    await again.destroy();
  } finally {
    second.child.kill('SIGTERM');
    await new Promise((r) => second.child.once('exit', r));
  }
});
