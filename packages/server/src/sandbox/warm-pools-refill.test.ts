/**
 * WarmPools' refill decisions, on a mocked clock with fake fill and discard (pure logic; the real
 * runtimes are in warm-pools.test.ts): a pool kept at the server's limit for a long time refills the
 * moment a release makes room, while an unavailable runtime is polled with backoff.
 */
import assert from 'node:assert/strict';
import { beforeEach, describe, test, type TestContext } from 'node:test';
import { pino } from 'pino';
import type { PoolConfig } from '../config.js';
import { WarmPools } from './warm-pools.js';

const shape: PoolConfig = { runtime: 'gvisor', image: 'default', cpu: 1, memoryMiB: 512, diskMiB: 2048, size: 2 };

/** A pool of two whose fills resolve when the test says, and whose room and runtime the test sets. */
function rig() {
  const fills: ((id: string) => void)[] = [];
  const state = { noRoom: undefined as string | undefined, unavailable: undefined as string | undefined };
  const pools = new WarmPools({
    shapes: [shape],
    refillConcurrency: 1,
    refillDelayMs: 0,
    log: pino({ level: 'silent' }),
    fill: () => new Promise<string>((resolve) => fills.push(resolve)),
    discard: async () => {},
    unavailable: () => state.unavailable,
    noRoom: () => state.noRoom,
  });
  return { pools, fills, state };
}

/** Lets the promise callbacks of a settled fill run (the mocked clock does not move meanwhile). */
const settle = async () => {
  for (let i = 0; i < 5; i++) await Promise.resolve();
};

describe('warm pool refills', { timeout: 60_000 }, () => {
  let t: TestContext;
  beforeEach((ctx) => {
    t = ctx as TestContext;
    t.mock.timers.enable({ apis: ['setTimeout', 'Date'] });
  });

  test('a pool held at the sandbox limit for minutes refills as soon as a release makes room', async () => {
    const { pools, fills, state } = rig();
    state.noRoom = 'the server is at its sandbox limit';
    pools.start();
    assert.equal(fills.length, 0, 'no fill starts without room');
    assert.equal(pools.status()[0]!.lastError, 'the server is at its sandbox limit');
    // Five minutes at the limit: every recheck finds no room. Exponential backoff would by now wait 30 s.
    for (let s = 0; s < 300; s++) t.mock.timers.tick(1_000);
    assert.equal(fills.length, 0);
    state.noRoom = undefined;
    // What a release does (Teardown's slotFree): the refill starts now, not at the next backoff.
    pools.refill();
    assert.equal(fills.length, 1, 'the refill started on the release');
    fills[0]!('sb-1');
    await settle();
    assert.equal(fills.length, 2, 'the second refill follows the first at once');
    fills[1]!('sb-2');
    await settle();
    assert.deepEqual([pools.status()[0]!.ready, pools.status()[0]!.refillFailures], [2, 0]);
    await pools.close();
  });

  test('room made without a release (a failed create gave its slot back) is found by the recheck within a second', async () => {
    const { pools, fills, state } = rig();
    state.noRoom = 'a create is waiting for room at the sandbox limit';
    pools.start();
    t.mock.timers.tick(10_000);
    state.noRoom = undefined;
    t.mock.timers.tick(999);
    assert.equal(fills.length, 0, 'positive control: nothing starts between rechecks');
    t.mock.timers.tick(1);
    assert.equal(fills.length, 1);
    fills[0]!('sb-1');
    await settle();
    fills[1]!('sb-2');
    await settle();
    await pools.close();
  });

  test('an unavailable runtime is polled with backoff, not every refill', async () => {
    const { pools, fills, state } = rig();
    state.unavailable = 'runtime gvisor is not available: runsc is missing';
    pools.start();
    t.mock.timers.tick(500); // the first backoff: 500 ms
    t.mock.timers.tick(1_000); // the second: 1 s
    state.unavailable = undefined;
    pools.refill();
    assert.equal(fills.length, 0, 'a refill during the backoff does not start');
    t.mock.timers.tick(2_000); // the third: 2 s
    assert.equal(fills.length, 1, 'the runtime is tried again when its backoff ends');
    assert.equal(pools.status()[0]!.lastError, 'runtime gvisor is not available: runsc is missing');
    fills[0]!('sb-1');
    await settle();
    fills[1]!('sb-2');
    await settle();
    await pools.close();
  });
});
