/**
 * Per-sandbox stats on real runc and gVisor sandboxes: burn CPU, allocate memory, write a file, and
 * see the numbers move; each is judged against the cgroup files the host itself keeps.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { cgroupVersion, sandboxCgroupDir } from '../host/cgroups.js';
import { TEST_KEY, startTestServer, type TestServer } from '@airlock/testkit/harness.js';
import { parseExposition } from '@airlock/testkit/prom-text.js';

const MiB = 1024 * 1024;

function cgroupCpuNs(id: string): number {
  if (cgroupVersion() === 2) return Number(/^usage_usec (\d+)$/m.exec(readFileSync(`${sandboxCgroupDir(id, '')}/cpu.stat`, 'utf8'))![1]) * 1000;
  return Number(readFileSync(`${sandboxCgroupDir(id, 'cpuacct')}/cpuacct.usage`, 'utf8'));
}

async function stats(t: TestServer, id: string) {
  const r = await t.api.call('GET', `/v1/sandboxes/${id}/stats`);
  assert.equal(r.status, 200, JSON.stringify(r.body));
  return r.body;
}

for (const runtime of ['runc', 'gvisor', 'bwrap'] as const) {
  test(`${runtime}: stats move with CPU burnt, memory held and bytes written`, { timeout: 5 * 60_000 }, async () => {
    const t = await startTestServer();
    try {
      const sb = await t.api.create({ runtime, memoryMiB: 256, cpu: 1 });
      const idle = await stats(t, sb.id);
      assert.equal(idle.runtime, runtime);
      assert.match(idle.source, new RegExp(`^cgroup v${cgroupVersion()} /airlock/project-[0-9a-f]{16}/${sb.id}`));
      assert.ok(idle.cpu.percent !== null && idle.cpu.percent < 30, `idle CPU ${idle.cpu.percent}%`);
      assert.equal(idle.cpu.limitCores, 1);
      assert.equal(idle.pids.scope, runtime === 'gvisor' ? 'host' : 'guest');

      // Burn one core for a while, in the background, and sample while it burns.
      // The machine is shared (2 cores, other suites): the loop may get much less than a core, so
      // the figure is judged against the cgroup's own counter and only bounded loosely from below.
      await t.api.exec(sb.id, { cmd: ['sh', '-c', 'timeout 10 sh -c "while :; do :; done" >/dev/null 2>&1 &'] });
      let busy = await stats(t, sb.id);
      for (let i = 0; i < 16 && !(busy.cpu.percent > 25 && busy.cpu.usageSeconds > idle.cpu.usageSeconds + 0.5); i++) {
        await new Promise((r) => setTimeout(r, 500));
        busy = await stats(t, sb.id);
      }
      assert.ok(busy.cpu.percent > 25, `a busy loop shows as more than a quarter of a core, got ${busy.cpu.percent}%`);
      assert.ok(busy.cpu.percent <= 130, `one core's loop under a 1-CPU limit is not ${busy.cpu.percent}%`);
      const hostNs = cgroupCpuNs(sb.id);
      assert.ok(Math.abs(hostNs / 1e9 - busy.cpu.usageSeconds) < 1, `usage ${busy.cpu.usageSeconds}s agrees with the cgroup's ${hostNs / 1e9}s`);
      assert.ok(busy.cpu.usageSeconds > idle.cpu.usageSeconds + 0.5);

      // Hold 96 MiB of anonymous memory (python fills it so the pages are really there).
      await t.api.exec(sb.id, {
        cmd: [
          'sh',
          '-c',
          `python3 -c "import time; b = bytearray(${96 * MiB}); [b.__setitem__(i, 1) for i in range(0, len(b), 4096)]; time.sleep(30)" >/dev/null 2>&1 &`,
        ],
      });
      let held = await stats(t, sb.id);
      for (let i = 0; i < 40 && held.memory.currentBytes < idle.memory.currentBytes + 80 * MiB; i++) {
        await new Promise((r) => setTimeout(r, 250));
        held = await stats(t, sb.id);
      }
      assert.ok(
        held.memory.currentBytes >= idle.memory.currentBytes + 80 * MiB,
        `memory ${held.memory.currentBytes} grew by ~96 MiB from ${idle.memory.currentBytes}`,
      );
      assert.ok(held.memory.peakBytes === null || held.memory.peakBytes >= held.memory.currentBytes);
      assert.ok(held.memory.limitBytes !== null && held.memory.limitBytes >= 256 * MiB);
      assert.ok(held.pids.current > idle.pids.current || runtime === 'gvisor', 'the background processes show as pids');

      // 20 MiB written to the root filesystem count against its disk.
      if (idle.disk !== null) {
        await t.api.exec(sb.id, { cmd: ['sh', '-c', 'head -c 20971520 /dev/urandom > /tmp/fill && sync'] });
        let wrote = await stats(t, sb.id);
        for (let i = 0; i < 20 && wrote.disk.usedBytes < idle.disk.usedBytes + 15 * MiB; i++) {
          await new Promise((r) => setTimeout(r, 500));
          wrote = await stats(t, sb.id);
        }
        assert.ok(wrote.disk.usedBytes >= idle.disk.usedBytes + 15 * MiB, `disk ${wrote.disk.usedBytes} grew by ~20 MiB from ${idle.disk.usedBytes}`);
        assert.equal(wrote.disk.limitBytes, sb.diskMiB * MiB);
      }

      // follow=1 streams one sample per interval.
      const ctl = new AbortController();
      const res = await fetch(`${t.api.url}/v1/sandboxes/${sb.id}/stats?follow=1&interval=0.25`, {
        headers: { authorization: `Bearer ${t.api.key}` },
        signal: ctl.signal,
      });
      assert.equal(res.headers.get('content-type'), 'application/x-ndjson');
      const reader = res.body!.getReader();
      let text = '';
      while (text.split('\n').filter(Boolean).length < 3) text += new TextDecoder().decode((await reader.read()).value);
      ctl.abort();
      const lines = text
        .split('\n')
        .filter(Boolean)
        .map((l) => JSON.parse(l));
      assert.ok(lines.every((l) => l.id === sb.id && typeof l.cpu.usageSeconds === 'number'));

      const other = await t.api.call('GET', '/v1/sandboxes/sb-nonexistent/stats');
      assert.equal(other.status, 404);
      await t.api.call('DELETE', `/v1/sandboxes/${sb.id}`);
      const after = await t.api.call('GET', `/v1/sandboxes/${sb.id}/stats`);
      assert.deepEqual([after.status, after.body.code], [409, 'invalid_state']);
    } finally {
      await t.close();
    }
  });
}

test('runc with a network: its bytes show in stats, and its DNS verdicts in the metrics', { timeout: 3 * 60_000 }, async () => {
  const t = await startTestServer();
  try {
    const sb = await t.api.create({ runtime: 'runc', network: { egress: 'none' } });
    const before = await stats(t, sb.id);
    assert.ok(before.network !== null, 'a sandbox with a network has link counters');
    const scrape = async () => parseExposition(await (await fetch(`${t.api.url}/metrics`, { headers: { authorization: `Bearer ${TEST_KEY}` } })).text());
    const denied0 = (await scrape()).value('airlock_network_verdicts_total', { kind: 'dns', verdict: 'denied' });
    // Questions the policy refuses: each is a packet out and an answer back, and a verdict.
    await t.api.exec(sb.id, { cmd: ['sh', '-c', 'for i in 1 2 3 4 5; do getent hosts example$i.com; done; true'] });
    const after = await stats(t, sb.id);
    assert.ok(after.network.txBytes > before.network.txBytes, `sent ${before.network.txBytes} → ${after.network.txBytes}`);
    assert.ok(after.network.rxBytes > before.network.rxBytes, `received ${before.network.rxBytes} → ${after.network.rxBytes}`);
    assert.ok((await scrape()).value('airlock_network_verdicts_total', { kind: 'dns', verdict: 'denied' }) >= denied0 + 5);
    const none = await t.api.create({ runtime: 'runc' });
    assert.equal((await stats(t, none.id)).network, null, 'no network, no counters');
  } finally {
    await t.close();
  }
});

test('microvm: the host side (QEMU) is measured, and its CPU time moves with the guest busy', { timeout: 5 * 60_000 }, async (t0) => {
  const t = await startTestServer();
  try {
    const h = await t.api.call('GET', '/v1/health');
    if (!h.body.runtimes.some((r: { name: string; available: boolean }) => r.name === 'microvm' && r.available))
      return t0.skip('microvm is not available here');
    const sb = await t.api.create({ runtime: 'microvm' });
    const idle = await stats(t, sb.id);
    assert.match(idle.source, /host side: QEMU/);
    assert.equal(idle.pids.scope, 'host');
    assert.ok(idle.memory.currentBytes > 16 * MiB, `QEMU holds the guest's touched RAM: ${idle.memory.currentBytes}`);
    await t.api.exec(sb.id, { cmd: ['sh', '-c', 'timeout 3 sh -c "while :; do :; done"; true'] });
    const busy = await stats(t, sb.id);
    assert.ok(busy.cpu.usageSeconds > idle.cpu.usageSeconds + 1.5, `CPU time ${idle.cpu.usageSeconds} → ${busy.cpu.usageSeconds} s over a 3 s busy loop`);
    assert.ok(Math.abs(cgroupCpuNs(sb.id) / 1e9 - busy.cpu.usageSeconds) < 1);
  } finally {
    await t.close();
  }
});
