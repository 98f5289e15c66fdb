/**
 * Crash recovery: the server is killed with SIGKILL while sandboxes run, and restarted on the same
 * data dir. Sandboxes that still run are adopted (their agent answers and their files are intact),
 * one that died meanwhile is marked lost and cleaned up, and a container nobody owns is removed.
 */
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { mkdirSync, writeFileSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { checkCommand } from '@airlock/server/internal/host/command.js';
import { newDataDir, recordSandbox } from './harness.js';
import { spawnServer } from './spawn-server.js';
import { isClean, processesMatching, remainsOf } from './host-probe.js';

const children: ChildProcess[] = [];

after(() => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
});

test('kill -9 of the server: running sandboxes are adopted, dead ones cleaned, orphans removed', { timeout: 10 * 60_000 }, async () => {
  const dataDir = newDataDir('recovery');
  const first = await spawnServer(dataDir, children);
  const a = await first.api.create({ runtime: 'runc' });
  const b = await first.api.create({ runtime: 'gvisor' });
  const c = await first.api.create({ runtime: 'runc' });
  const d = await first.api.create({ runtime: 'bwrap' });
  for (const s of [a, b, d]) await first.api.exec(s.id, { cmd: `echo kept-${s.id} > /tmp/state.txt` });

  first.child.kill('SIGKILL');
  await new Promise((r) => first.child.once('exit', r));
  // The shims outlive the server: that is what makes adoption possible.
  for (const s of [a, b, c, d]) assert.equal(processesMatching((cmd) => cmd.includes(`${s.id}.sock`)).length, 1, `shim of ${s.id} survives`);

  // While the server is down: c's container dies, and a container appears that no sandbox owns.
  const runcRoot = join(dataDir, 'runtime', 'runc', 'state');
  await checkCommand(['runc', '--root', runcRoot, 'kill', c.id, 'KILL']);
  const orphan = 'sb-orphan0000000000000';
  recordSandbox(orphan);
  const bundle = join(dataDir, 'runtime', 'runc', 'bundles', orphan);
  mkdirSync(bundle, { recursive: true });
  const spec = JSON.parse(readFileSync(join(dataDir, 'runtime', 'runc', 'bundles', a.id, 'config.json'), 'utf8'));
  spec.process.args = ['/bin/sleep', '1000'];
  spec.linux.cgroupsPath = `/airlock/${orphan}`;
  writeFileSync(join(bundle, 'config.json'), JSON.stringify(spec));
  await checkCommand(['sh', '-c', `runc --root ${runcRoot} create --bundle ${bundle} ${orphan} </dev/null >/dev/null 2>&1`]);
  assert.ok(!isClean(remainsOf(orphan, dataDir)), 'positive control: the orphan exists before the restart');

  const second = await spawnServer(dataDir, children);
  try {
    for (const s of [a, b, d]) {
      const got = await second.api.call('GET', `/v1/sandboxes/${s.id}`);
      assert.equal(got.body.state, 'running', `${s.id} adopted`);
      const r = await second.api.exec(s.id, { cmd: 'cat /tmp/state.txt' });
      assert.equal(r.stdout, `kept-${s.id}\n`);
    }
    const lost = (await second.api.call('GET', `/v1/sandboxes/${c.id}`)).body;
    assert.deepEqual([lost.state, lost.stopReason], ['stopped', 'lost']);
    assert.ok(isClean(remainsOf(c.id, dataDir)), 'the lost sandbox left nothing');
    assert.deepEqual(remainsOf(orphan, dataDir), { cgroups: [], processes: [], mounts: [], paths: [] });
  } finally {
    for (const s of [a, b, c, d]) await second.api.call('DELETE', `/v1/sandboxes/${s.id}`);
    second.child.kill('SIGTERM');
    await new Promise((r) => second.child.once('exit', r));
  }
  for (const s of [a, b, c, d]) assert.ok(isClean(remainsOf(s.id, dataDir)), `${s.id} left nothing`);
});
