import assert from 'node:assert/strict';
import { test } from 'node:test';
import { FairQueue } from './fair-queue.js';

/** Work that ends when the test says so, recording the order in which it started. */
function gate(started: string[], name: string): { work: () => Promise<void>; finish: () => void } {
  let finish!: () => void;
  const done = new Promise<void>((r) => (finish = r));
  return {
    work: async () => {
      started.push(name);
      await done;
    },
    finish: () => finish(),
  };
}

const turn = () => new Promise((r) => setImmediate(r));

test('a flooding project waits behind its own backlog: the quiet project is served next', async () => {
  const q = new FairQueue(1);
  const started: string[] = [];
  const gates = ['n1', 'n2', 'n3', 'n4'].map((n) => gate(started, n));
  const runs = gates.map((g) => q.run('noisy', g.work));
  await turn();
  const quiet = gate(started, 'q1');
  const quietRun = q.run('quiet', quiet.work);
  await turn();
  assert.deepEqual(started, ['n1']);
  gates[0]!.finish();
  await turn();
  assert.deepEqual(started, ['n1', 'q1'], 'the quiet create goes before the noisy backlog');
  quiet.finish();
  for (const g of gates.slice(1)) {
    await turn();
    g.finish();
  }
  await Promise.all([...runs, quietRun]);
  assert.deepEqual(started, ['n1', 'q1', 'n2', 'n3', 'n4'], "each project's own creates keep their order");
  assert.equal(q.active, 0);
  assert.equal(q.waiting, 0);
});

test('projects with backlogs take turns, one create each', async () => {
  const q = new FairQueue(1);
  const started: string[] = [];
  const first = gate(started, 'x0');
  const runs = [q.run('x', first.work)];
  const rest: { finish: () => void }[] = [];
  for (const name of ['a1', 'a2', 'a3', 'b1', 'b2', 'c1']) {
    const g = gate(started, name);
    rest.push(g);
    runs.push(q.run(name[0]!, g.work));
  }
  await turn();
  first.finish();
  for (let i = 0; i < 6; i++) {
    await turn();
    // finish whatever started last
    rest.find((_, j) => ['a1', 'a2', 'a3', 'b1', 'b2', 'c1'][j] === started.at(-1))!.finish();
  }
  await Promise.all(runs);
  assert.deepEqual(started, ['x0', 'a1', 'b1', 'c1', 'a2', 'b2', 'a3']);
});

test('never more than the bound at once, and a failed create gives its slot back', async () => {
  const q = new FairQueue(2);
  let now = 0;
  let peak = 0;
  const work = async (fail: boolean) => {
    now++;
    peak = Math.max(peak, now);
    await turn();
    now--;
    if (fail) throw new Error('start failed');
  };
  const results = await Promise.allSettled(Array.from({ length: 10 }, (_, i) => q.run(`p${i % 3}`, () => work(i % 4 === 0))));
  assert.equal(peak, 2);
  assert.equal(results.filter((r) => r.status === 'rejected').length, 3);
  assert.equal(q.active, 0);
  await q.run('p0', () => work(false)); // slots all came back
});

test('a bound below one is refused', () => {
  assert.throws(() => new FairQueue(0), /positive integer/);
});
