import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';
import { AgentFrame } from '@airlock/agent';
import type { OutputEvent } from './exec-run.js';
import { fakeKit, type Kit } from './test-kit.js';

/** Polls until `probe` gives a value; the deadline only turns a hang into a failure. */
async function until<T>(what: string, probe: () => Promise<T | undefined> | T | undefined, ms = 10_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await probe();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`gave up waiting for ${what}`);
    await delay(10);
  }
}

async function collect(events: AsyncIterable<OutputEvent>): Promise<{ stdout: string; exit: Extract<OutputEvent, { type: 'exit' }> }> {
  let stdout = '';
  for await (const ev of events) {
    if (ev.type === 'stdout') stdout += ev.data.toString();
    if (ev.type === 'exit') return { stdout, exit: ev };
  }
  throw new Error('no exit event');
}

const kits: Kit[] = [];
const kit = () => {
  const k = fakeKit();
  kits.push(k);
  return k;
};
after(() => kits.forEach((k) => k.cleanup()));

describe('sandbox lifecycle on the fake runtime (no root)', { timeout: 60_000 }, () => {
  test('create, exec, destroy: the record follows and the runtime is released', async () => {
    const k = kit();
    const svc = await k.start();
    const sb = await svc.create({ env: { A: '1' } });
    assert.equal(sb.state, 'running');
    assert.deepEqual(sb.enforced?.pids, 512);
    const run = await svc.exec(sb.id, { argv: ['echo', 'hi'] });
    const { stdout, exit } = await collect(run.events);
    assert.deepEqual([stdout, exit.exitCode, exit.reason], ['hi\n', 0, 'exit']);
    const gone = await svc.destroy(sb.id);
    assert.deepEqual([gone.state, gone.stopReason], ['destroyed', 'destroyed']);
    await until('the release', async () => ((await k.host.sandboxes.has(sb.id)) ? undefined : true));
    assert.ok(!k.images.prepared.has(sb.id), 'its rootfs went too');
    await svc.close();
  });

  test('a failed start leaves nothing: no row, no rootfs, the slot free', async () => {
    const k = kit();
    const svc = await k.start({ maxSandboxes: 1 });
    k.host.failAllStarts = true;
    await assert.rejects(svc.create({}), (e: any) => e.code === 'runtime_error');
    assert.deepEqual(await svc.list({ states: ['creating', 'running', 'stopped', 'destroyed', 'unknown'] }), []);
    assert.deepEqual([...k.images.prepared], []);
    k.host.failAllStarts = false;
    const sb = await svc.create({});
    assert.equal(sb.slot, 0, 'the one slot came back');
    await svc.destroyAll();
    await svc.close();
  });

  test('admission: a sandbox larger than the host is a 400, a full host a 429, and nothing is created', async () => {
    const k = kit();
    // 4 GiB host, 1 GiB reserved: 3 GiB for sandboxes.
    const svc = await k.start({ hostMemoryMiB: 4096 });
    await assert.rejects(svc.create({ memoryMiB: 4000 }), (e: any) => e.code === 'invalid_request' && /more than this host/.test(e.message));
    const a = await svc.create({ memoryMiB: 2048 });
    await assert.rejects(svc.create({ memoryMiB: 2048 }), (e: any) => e.code === 'capacity' && /memory is taken/.test(e.message));
    assert.equal((await svc.list({})).length, 1);
    await svc.destroy(a.id);
    const b = await until('the memory to come back', async () => svc.create({ memoryMiB: 2048 }).catch(() => undefined));
    await svc.destroy(b.id);
    await svc.close();
  });

  test('an agent that breaks the protocol stops its sandbox (agent_protocol), ends calls in flight, and spares the neighbour', async () => {
    const k = kit();
    const svc = await k.start();
    const victim = await svc.create({});
    const neighbour = await svc.create({});
    const run = await svc.exec(victim.id, { argv: ['sleep', '60000'] });
    k.host.agent(victim.id).inject(Buffer.from([0, 0, 0, 1, 0xff]));
    const { exit } = await collect(run.events);
    assert.equal(exit.reason, 'sandbox_stopped');
    assert.match(exit.detail ?? '', /broke the protocol/);
    const stopped = await until('the stop to be recorded', async () => {
      const r = await svc.get(victim.id);
      return r.state === 'stopped' ? r : undefined;
    });
    assert.equal(stopped.stopReason, 'agent_protocol');
    assert.match(stopped.stopDetail ?? '', /frame length|length/);
    await until('its release', () => (k.host.sandboxes.has(victim.id) ? undefined : true));
    const ok = await collect((await svc.exec(neighbour.id, { argv: ['echo', 'fine'] })).events);
    assert.equal(ok.stdout, 'fine\n');
    await svc.destroyAll();
    await svc.close();
  });

  test('a forged frame for another channel is a violation, not a forged result', async () => {
    const k = kit();
    const svc = await k.start();
    const sb = await svc.create({});
    const run = await svc.exec(sb.id, { argv: ['sleep', '60000'] });
    // A process inside writes an EXITED for a channel the server never opened.
    k.host.agent(sb.id).send(AgentFrame.Exited, 999, Buffer.from([0, 0, 0, 0, 0, 0, 0, 0]));
    const { exit } = await collect(run.events);
    assert.notEqual(exit.reason, 'exit', 'no forged exit code reaches the caller');
    assert.equal((await until('the stop', async () => ((await svc.get(sb.id)).state === 'stopped' ? svc.get(sb.id) : undefined))).stopReason, 'agent_protocol');
    await svc.destroyAll();
    await svc.close();
  });

  test('a frozen agent: exec start has a deadline, the watchdog marks the sandbox, destroy still works', async () => {
    const k = kit();
    const svc = await k.start({ agent: { startTimeoutMs: 300, pingIntervalMs: 100, maxMissedPings: 2 } });
    const sb = await svc.create({});
    k.host.agent(sb.id).responsive = false;
    await assert.rejects(svc.exec(sb.id, { argv: ['true'] }), (e: any) => e.code === 'agent_unresponsive');
    const marked = await until('the mark', async () => {
      const r = await svc.get(sb.id);
      return r.agent.responsive ? undefined : r;
    });
    assert.ok(marked.agent.unresponsiveSince);
    k.host.agent(sb.id).responsive = true;
    await until('the mark to clear once it answers', async () => ((await svc.get(sb.id)).agent.responsive ? true : undefined));
    assert.equal((await svc.destroy(sb.id)).state, 'destroyed');
    await svc.close();
  });

  test('a sandbox whose init exits is recorded stopped; killed by its memory limit, stopped (oom)', async () => {
    const k = kit();
    const svc = await k.start();
    const a = await svc.create({});
    const b = await svc.create({});
    k.host.kill(a.id);
    k.host.kill(b.id, { oom: true });
    const ra = await until('a to stop', async () => ((await svc.get(a.id)).state === 'stopped' ? svc.get(a.id) : undefined));
    const rb = await until('b to stop', async () => ((await svc.get(b.id)).state === 'stopped' ? svc.get(b.id) : undefined));
    assert.deepEqual([ra.stopReason, rb.stopReason], ['exited', 'oom']);
    await svc.close();
  });

  test('an OOM kill counted while a command ran is its exit reason', async () => {
    const k = kit();
    const svc = await k.start();
    const sb = await svc.create({});
    const run = await svc.exec(sb.id, { argv: ['sleep', '60000'] });
    k.host.oomKill(sb.id);
    // What the agent reports for a process the memory limit killed: SIGKILL.
    const ch = k.host.agent(sb.id).received.at(-1)!.channel;
    k.host.agent(sb.id).send(AgentFrame.Exited, ch, Buffer.from([0xff, 0xff, 0xff, 0xff, 0, 0, 0, 9]));
    const { exit } = await collect(run.events);
    assert.deepEqual([exit.signal, exit.reason], [9, 'oom']);
    await svc.destroyAll();
    await svc.close();
  });

  test('a timeout destroys the sandbox with reason timeout', async () => {
    const k = kit();
    const svc = await k.start();
    const sb = await svc.create({ timeout: 1 });
    const done = await until('the timeout', async () => ((await svc.get(sb.id)).state === 'destroyed' ? svc.get(sb.id) : undefined), 5000);
    assert.equal(done.stopReason, 'timeout');
    await svc.close();
  });
});

describe('releases on the fake runtime (no root)', { timeout: 60_000 }, () => {
  test('a release that fails is tried again in the background: the host is cleaned and the slot comes back', async () => {
    const k = kit();
    const svc = await k.start({ maxSandboxes: 1 });
    const a = await svc.create({});
    k.host.failDestroys.add(a.id);
    await svc.destroy(a.id);
    await until('the first release to fail', () => (k.host.failDestroys.has(a.id) ? undefined : true));
    assert.ok(k.host.sandboxes.has(a.id), 'positive control: the failed release left the sandbox on the host');
    await assert.rejects(svc.create({}), (e: Error & { code?: string }) => e.code === 'capacity', 'its slot is still held');
    await until('the retry to remove it', () => (k.host.sandboxes.has(a.id) ? undefined : true));
    const b = await until('the slot to come back', async () => svc.create({}).catch(() => undefined));
    assert.equal((await svc.get(a.id)).releasePending, false);
    await svc.destroy(b.id);
    await svc.close();
  });
});

describe('warm pools on the fake runtime (no root)', { timeout: 60_000 }, () => {
  test('pooled sandboxes are claimed once, refilled, and replaced when they die', async () => {
    const k = kit();
    const svc = await k.start({ pools: ['runc:2'], poolRefillDelayMs: 0 });
    await until('the pool to fill', () => (svc.pools().pools[0]!.ready === 2 ? true : undefined));
    assert.deepEqual(await svc.list({}), [], 'pooled sandboxes are invisible');
    const [a, b] = await Promise.all([svc.create({ env: { X: '1' } }), svc.create({})]);
    assert.notEqual(a.id, b.id, 'two creates never get the same sandbox');
    assert.deepEqual(Object.keys(a.env), ['X'], 'env is bound at claim');
    await until('the refill', () => (svc.pools().pools[0]!.ready === 2 ? true : undefined));
    const pooled = [...k.host.sandboxes.keys()].filter((id) => id !== a.id && id !== b.id);
    k.host.kill(pooled[0]!);
    await until('the dead one to be replaced', () => (svc.pools().pools[0]!.ready === 2 && !k.host.sandboxes.has(pooled[0]!) ? true : undefined));
    await svc.destroyAll();
    await svc.close();
  });
});

describe('reconcile on the fake runtime (no root)', { timeout: 60_000 }, () => {
  test('after a crash: live sandboxes are adopted, dead ones lost, orphans and stray rootfs removed', async () => {
    const k = kit();
    const first = await k.start();
    const alive = await first.create({});
    const dead = await first.create({});
    // The server dies (its channels close, its sandboxes keep running); one sandbox dies meanwhile.
    await first.close();
    k.host.kill(dead.id);
    // An orphan container and an orphan rootfs nobody owns.
    k.host.sandboxes.set('sb-orphanorphanorphan00', {
      agent: new (await import('../agent-channel/fake-agent.js')).FakeAgent(),
      status: 'running',
      oomKills: 0,
      oomEnded: false,
    });
    k.images.prepared.add('sb-strayrootfs0000000000');
    const second = await k.start();
    const a = await second.get(alive.id);
    assert.equal(a.state, 'running');
    const ran = await collect((await second.exec(alive.id, { argv: ['echo', 'adopted'] })).events);
    assert.equal(ran.stdout, 'adopted\n');
    const d = await second.get(dead.id);
    assert.deepEqual([d.state, d.stopReason], ['stopped', 'lost']);
    assert.ok(!k.host.sandboxes.has('sb-orphanorphanorphan00'), 'the orphan container is gone');
    assert.ok(!k.images.prepared.has('sb-strayrootfs0000000000'), 'the stray rootfs is gone');
    assert.ok(k.images.prepared.has(alive.id), "the adopted sandbox's rootfs was left alone");
    await second.destroyAll();
    await second.close();
  });

  test('adopting many sandboxes runs in parallel', async () => {
    const k = kit();
    const first = await k.start({ hostMemoryMiB: 64 * 1024, hostCpus: 16 });
    const ids = (await Promise.all(Array.from({ length: 30 }, () => first.create({})))).map((s) => s.id);
    await first.close();
    const second = await k.start({ hostMemoryMiB: 64 * 1024, hostCpus: 16 });
    for (const id of ids) assert.equal((await second.get(id)).state, 'running');
    assert.equal(k.host.maxAdopting, 8, 'eight adopted at a time (reconcileConcurrency), not one after another');
    await second.destroyAll();
    await second.close();
  });
});
