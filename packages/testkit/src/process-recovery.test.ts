/**
 * Processes across a `kill -9` of the server, on every runtime (runc, gVisor, bwrap, microVM): background processes keep running,
 * are listed again by the new server, and their journals replay byte-exact and continuous, including
 * what they wrote while no server was there (a process that wrote more than the agent holds blocked
 * instead of losing output, and went on once the new server followed it). A plain exec whose client
 * died with the old server is killed, as its client is gone.
 */
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { after, test } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';
import { TEST_KEY, eventually, eventuallyReads, newDataDir, recordSandbox, type Api } from './harness.js';
import { spawnServer } from './spawn-server.js';
import { isClean, remainsOf } from './host-probe.js';

const children: ChildProcess[] = [];

async function output(api: Api, sb: string, pid: string): Promise<string> {
  const res = await fetch(`${api.url}/v1/sandboxes/${sb}/processes/${pid}/output?follow=false`, { headers: { authorization: `Bearer ${api.key}` } });
  assert.equal(res.status, 200);
  const events = (await res.text())
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l));
  return Buffer.concat(events.filter((e) => e.data).map((e) => Buffer.from(e.data, 'base64'))).toString();
}

after(() => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
});

test('kill -9 of the server: background processes run on, are listed again, and replay byte-exact', { timeout: 300_000 }, async () => {
  const dataDir = newDataDir('proc-recovery');
  const first = await spawnServer(dataDir, children);
  const sandboxes = [];
  for (const runtime of ['runc', 'gvisor', 'bwrap', 'microvm']) sandboxes.push(await first.api.create({ runtime }));
  const started: { sb: string; runtime: string; ticker: string; flood: string }[] = [];
  for (const sb of sandboxes) {
    const ticker = await first.api.call('POST', `/v1/sandboxes/${sb.id}/processes`, {
      cmd: 'i=0; while [ $i -lt 400 ]; do i=$((i+1)); echo "tick $i"; sleep 0.01; done',
      tag: 'ticker',
    });
    // 3 MiB, written while no server reads: more than the agent's 1 MiB buffer holds.
    const flood = await first.api.call('POST', `/v1/sandboxes/${sb.id}/processes`, {
      cmd: 'sleep 0.5; head -c 3145728 /dev/zero | tr "\\0" z; echo; echo done',
    });
    assert.equal(ticker.status, 201);
    started.push({ sb: sb.id, runtime: sb.runtime, ticker: ticker.body.id, flood: flood.body.id });
  }
  // A process with a timeout: the next server must still end it on time.
  const bounded = await first.api.call('POST', `/v1/sandboxes/${sandboxes[0].id}/processes`, { cmd: ['sleep', '120'], timeout: 6 });
  assert.equal(bounded.status, 201, JSON.stringify(bounded.body));
  // A plain exec in flight: its client is the server that is about to die.
  const plain = fetch(`${first.api.url}/v1/sandboxes/${sandboxes[0].id}/exec`, {
    method: 'POST',
    headers: { authorization: `Bearer ${TEST_KEY}`, 'content-type': 'application/json' },
    body: JSON.stringify({ cmd: ['sleep', '600'] }),
  }).catch(() => undefined);
  await delay(300);
  const before = (await first.api.call('GET', `/v1/sandboxes/${sandboxes[0].id}/processes`)).body.processes;
  const plainId = before.find((p: any) => p.command === 'sleep 600')?.id;
  assert.ok(plainId, 'the plain exec is a process too');
  first.child.kill('SIGKILL');
  await new Promise((r) => first.child.once('exit', r));
  await plain;
  await delay(1500); // the tickers go on, the floods block on the agent's full buffer

  // The new server's warnings go into a failure's message: a wait that gives up says what the server saw.
  const warnings: string[] = [];
  const second = await spawnServer(dataDir, children, {
    onLine: (line) => {
      if (/"level":(40|50|60)/.test(line) && warnings.length < 50) warnings.push(line.slice(0, 800));
    },
  });
  try {
    for (const s of started) {
      const list = (await second.api.call('GET', `/v1/sandboxes/${s.sb}/processes?tag=ticker`)).body.processes;
      assert.deepEqual(
        list.map((p: any) => p.id),
        [s.ticker],
        'listed again after the restart',
      );
      const t = await eventuallyReads(
        `the ticker of ${s.sb} (${s.runtime}) to end`,
        async () => (await second.api.call('GET', `/v1/sandboxes/${s.sb}/processes/${s.ticker}`)).body,
        (p) => p.state === 'exited',
      ).catch((e: Error) => assert.fail(`${e.message}; server warnings:\n${warnings.join('\n') || '(none)'}`));
      assert.equal(t.exitCode, 0);
      assert.equal(
        await output(second.api, s.sb, s.ticker),
        Array.from({ length: 400 }, (_, i) => `tick ${i + 1}\n`).join(''),
        'continuous across the restart',
      );
      await eventually('the flood to end', async () =>
        (await second.api.call('GET', `/v1/sandboxes/${s.sb}/processes/${s.flood}/wait?timeout=5`)).body.state === 'exited' ? true : undefined,
      );
      assert.equal(await output(second.api, s.sb, s.flood), `${'z'.repeat(3145728)}\ndone\n`, 'nothing lost while no server read it');
    }
    const timedOut = (await second.api.call('GET', `/v1/sandboxes/${sandboxes[0].id}/processes/${bounded.body.id}/wait?timeout=60`)).body;
    assert.deepEqual([timedOut.state, timedOut.reason], ['exited', 'timeout'], `its timeout outlived the server: ${JSON.stringify(timedOut)}`);
    const killed = (await second.api.call('GET', `/v1/sandboxes/${sandboxes[0].id}/processes/${plainId}/wait?timeout=30`)).body;
    assert.deepEqual([killed.state, killed.signal], ['exited', 9], 'the plain exec died with its client');
  } finally {
    for (const sb of sandboxes) await second.api.call('DELETE', `/v1/sandboxes/${sb.id}`);
    second.child.kill('SIGTERM');
    await new Promise((r) => second.child.once('exit', r));
  }
  for (const sb of sandboxes) {
    recordSandbox(sb.id);
    assert.ok(isClean(remainsOf(sb.id, dataDir)), `${sb.id} left nothing`);
  }
});
