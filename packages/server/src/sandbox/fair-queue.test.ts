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

test('with a reserve, a project with nothing running starts at once beside a flood that holds every regular slot', async () => {
  const q = new FairQueue(2, 2);
  const started: string[] = [];
  const noisy = ['n1', 'n2', 'n3', 'n4', 'n5'].map((n) => gate(started, n));
  const noisyRuns = noisy.map((g) => q.run('noisy', g.work));
  await turn();
  assert.deepEqual(started, ['n1', 'n2'], 'the flood takes the regular slots, never a reserve one');
  const [q1, q2] = [gate(started, 'q1'), gate(started, 'q2')];
  const quietRuns = [q.run('quiet', q1.work), q.run('quiet', q2.work)];
  await turn();
  assert.deepEqual(started, ['n1', 'n2', 'q1'], 'the quiet create starts at once; its second waits (one reserve slot per project)');
  const o1 = gate(started, 'o1');
  const otherRun = q.run('other', o1.work);
  await turn();
  assert.deepEqual(started.slice(3), ['o1'], 'another idle project takes the last reserve slot');
  assert.equal(q.active, 4);
  const late = gate(started, 'l1');
  const lateRun = q.run('late', late.work);
  await turn();
  assert.equal(started.length, 4, 'never more than concurrency + reserve at once');

  q1.finish();
  await turn();
  assert.deepEqual(started.slice(4), ['l1'], 'a freed reserve slot goes to the idle project waiting, not to the backlogs');
  o1.finish();
  await turn();
  assert.deepEqual(started.slice(5), ['q2'], 'the quiet project’s second create takes a reserve slot once its first is done');
  assert.deepEqual([q.active, q.waiting], [4, 3], 'the noisy backlog still waits for a regular slot');
  noisy[0]!.finish();
  await turn();
  assert.equal(started.length, 6, 'with the reserve slots taken, the total stays at the regular bound: the flood waits');
  q2.finish();
  late.finish();
  await turn();
  assert.deepEqual(started.slice(6), ['n3'], 'the flood gets a regular slot back as the others finish');
  for (const g of [noisy[1]!, noisy[2]!, noisy[3]!]) {
    g.finish();
    await turn();
  }
  noisy[4]!.finish();
  await Promise.all([...noisyRuns, ...quietRuns, otherRun, lateRun]);
  assert.equal(q.active, 0);
  assert.equal(q.waiting, 0);
});

test('a reserve slot never feeds a backlog: with the regular slots full, a busy project waits', async () => {
  const q = new FairQueue(1, 1);
  let now = 0;
  let peakNoisy = 0;
  const work = async () => {
    now++;
    peakNoisy = Math.max(peakNoisy, now);
    await turn();
    await turn();
    now--;
  };
  await Promise.all(Array.from({ length: 8 }, () => q.run('noisy', work)));
  assert.equal(peakNoisy, 1, 'one project alone never runs in a reserve slot once it has a create running');
});

test('a bound below one, or a negative reserve, is refused', () => {
  assert.throws(() => new FairQueue(0), /positive integer/);
  assert.throws(() => new FairQueue(1, -1), /non-negative/);
});
