import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';
import { AgentFrame, HostFrame, encodeExec } from '@airlock/agent';
import fc from 'fast-check';
import { AgentConnection, DEFAULT_CHANNEL_LIMITS, type ChannelLimits } from './agent-connection.js';
import { AgentProtocolError, ChannelClosedError } from './errors.js';
import { forgetProcess, listProcesses, openProcess } from './process-channel.js';

const sink = { data: () => {}, exited: () => {}, lost: () => {} };
import { FakeAgent, errorPayload } from './fake-agent.js';
import { readFile } from './files.js';

const u32 = (...v: number[]) => {
  const b = Buffer.alloc(v.length * 4);
  v.forEach((x, i) => b.writeUInt32BE(x >>> 0, i * 4));
  return b;
};
const raw = (length: number, type: number, channel: number, payload = Buffer.alloc(0)) => {
  const b = Buffer.alloc(9);
  b.writeUInt32BE(length >>> 0, 0);
  b.writeUInt8(type, 4);
  b.writeUInt32BE(channel >>> 0, 5);
  return Buffer.concat([b, payload]);
};

async function connected(limits: Partial<ChannelLimits> = {}): Promise<{ agent: FakeAgent; conn: AgentConnection; closed: Promise<Error> }> {
  const agent = new FakeAgent();
  const conn = await AgentConnection.connect(agent.transport(), { timeoutMs: 2000, limits: { ...DEFAULT_CHANNEL_LIMITS, ...limits } });
  const closed = new Promise<Error>((r) => conn.onClose(r));
  return { agent, conn, closed };
}

/** An exec whose STARTED the test controls: the fake agent never answers it (it does not know `hold`). */
function openExec(conn: AgentConnection) {
  const frames: number[] = [];
  let closedWith: Error | undefined;
  const ch = conn.open('exec', { frame: (f) => frames.push(f.type), closed: (e) => (closedWith = e) });
  return { ch, frames, closedWith: () => closedWith };
}

describe('agent connection: every byte from the sandbox is untrusted', { timeout: 60_000 }, () => {
  test('connects with RESET then a PING round trip', async () => {
    const { agent, conn } = await connected();
    assert.deepEqual(
      agent.received.map((f) => f.type),
      [HostFrame.Reset, HostFrame.Ping],
    );
    assert.ok((await conn.ping()) >= 0);
    conn.close();
  });

  const violations: [string, (agent: FakeAgent, conn: AgentConnection) => void][] = [
    ['a length below the header', (a) => a.inject(raw(2, AgentFrame.Stdout, 1))],
    ['a length beyond the maximum', (a) => a.inject(raw(0x7fffffff, AgentFrame.Stdout, 1))],
    ['an unknown frame type', (a) => a.send(0x7e, 1)],
    ['a host frame type from the agent', (a) => a.send(HostFrame.Exec, 1)],
    ['a frame on the control channel', (a) => a.send(AgentFrame.Stdout, 0, Buffer.from('x'))],
    ['a frame for a channel the server did not open', (a) => a.send(AgentFrame.Exited, 4242, u32(0, 0))],
    ['output before STARTED', (a, c) => a.send(AgentFrame.Stdout, openExec(c).ch.id, Buffer.alloc(100_000))],
    ['EXITED before STARTED', (a, c) => a.send(AgentFrame.Exited, openExec(c).ch.id, u32(0, 0))],
    [
      'STARTED twice',
      (a, c) => {
        const { ch } = openExec(c);
        a.send(AgentFrame.Started, ch.id, u32(7));
        a.send(AgentFrame.Started, ch.id, u32(8));
      },
    ],
    [
      'output after EXITED',
      (a, c) => {
        const { ch } = openExec(c);
        a.send(AgentFrame.Started, ch.id, u32(7));
        a.send(AgentFrame.Exited, ch.id, u32(0, 0));
        a.send(AgentFrame.Stdout, ch.id, Buffer.from('late'));
      },
    ],
    ['a file frame on an exec channel', (a, c) => a.send(AgentFrame.FileData, openExec(c).ch.id, Buffer.from('x'))],
    [
      'a PONG that does not echo its PING',
      (a, c) => {
        a.responsive = false;
        c.ping(1000).catch(() => {});
        a.send(AgentFrame.Pong, a.received.at(-1)!.channel, Buffer.from('forged'));
      },
    ],
  ];
  for (const [what, attack] of violations) {
    test(`${what} closes the channel as a protocol violation, and calls in flight end with it`, async () => {
      const { agent, conn, closed } = await connected();
      const inFlight = openExec(conn);
      attack(agent, conn);
      const err = await closed;
      assert.ok(err instanceof AgentProtocolError, `${what}: ${String(err)}`);
      assert.ok(conn.closed);
      assert.ok(inFlight.closedWith() instanceof AgentProtocolError, 'a call in flight learns why');
      assert.throws(() => conn.open('exec', { frame: () => {}, closed: () => {} }), AgentProtocolError, 'nothing new starts on it');
    });
  }

  test('malformed payloads are violations, not exceptions: STARTED, EXITED, ERROR', async () => {
    for (const [type, payload] of [
      [AgentFrame.Started, Buffer.from([1, 2])],
      [AgentFrame.Exited, u32(0, 200)],
      [AgentFrame.Error, Buffer.from([0, 0, 0, 2, 65, 66])],
    ] as const) {
      const { agent, conn, closed } = await connected();
      const run = openProcess(conn, { spec: { argv: ['hold'], env: [], cwd: '/', user: '', keepStdin: false, id: 'p1' } }, sink, { startTimeoutMs: 5000 });
      run.catch(() => {});
      const ch = agent.received.at(-1)!.channel;
      if (type !== AgentFrame.Started) agent.send(AgentFrame.Started, ch, u32(9));
      await delay(10);
      agent.send(type, ch, payload);
      assert.ok((await closed) instanceof AgentProtocolError, `type 0x${type.toString(16)}`);
    }
  });

  test("before the first PONG, a previous host's frames are dropped within a budget, then refused", async () => {
    const agent = new FakeAgent();
    agent.responsive = false;
    const transport = agent.transport();
    const connecting = AgentConnection.connect(transport, { timeoutMs: 3000, limits: { ...DEFAULT_CHANNEL_LIMITS, preSyncBytes: 64 * 1024 } });
    connecting.catch(() => {});
    await delay(50);
    // Queued output of the old host's exec on channel 3, below the budget: dropped.
    for (let i = 0; i < 4; i++) agent.send(AgentFrame.Stdout, 3, Buffer.alloc(8 * 1024));
    agent.dropBacklog();
    agent.responsive = true;
    const ping = agent.received.find((f) => f.type === HostFrame.Ping)!;
    agent.send(AgentFrame.Pong, ping.channel, ping.payload);
    const conn = await connecting;
    assert.ok(!conn.closed, 'within the budget the connection survives');
    conn.close();

    const flood = new FakeAgent();
    flood.responsive = false;
    const c2 = AgentConnection.connect(flood.transport(), { timeoutMs: 3000, limits: { ...DEFAULT_CHANNEL_LIMITS, preSyncBytes: 64 * 1024 } });
    await delay(50);
    for (let i = 0; i < 20; i++) flood.send(AgentFrame.Stdout, 3, Buffer.alloc(8 * 1024));
    await assert.rejects(c2, AgentProtocolError, 'past the budget it is a violation, and connect does not retry it');
  });

  test('a sandbox flooding frames has its reading paused, not the server', async () => {
    const { agent, conn } = await connected({ framesPerSecond: 200 });
    const ex = openExec(conn);
    agent.send(AgentFrame.Started, ex.ch.id, u32(5));
    // Written in bursts, as a process writing small pieces to its pipe would: separate reads on the host.
    for (let burst = 0; burst < 50; burst++) {
      for (let i = 0; i < 20; i++) agent.send(AgentFrame.Stdout, ex.ch.id, Buffer.from('x'));
      await delay(1);
    }
    await delay(50);
    assert.ok(ex.frames.length < 1000, `only part of the flood was read in the first window (${ex.frames.length})`);
    assert.ok(!conn.closed, 'a valid flood is throttled, not a violation');
    conn.close();
  });

  test('a one-answer operation refused at open (capacity, a closed connection) rejects, and leaves no timer that would crash the server', async () => {
    const { conn } = await connected({ maxChannels: 1 });
    conn.open('list', { frame: () => {}, closed: () => {} });
    await assert.rejects(forgetProcess(conn, 'proc-x', 50), (e: any) => e.code === 'capacity');
    conn.close();
    await assert.rejects(forgetProcess(conn, 'proc-y', 50));
    // The old code's timer fired here and threw a ReferenceError out of a timer: an uncaught exception.
    await delay(150);
  });

  test('operations in flight per sandbox are capped with a capacity error, processes apart', async () => {
    const { conn } = await connected({ maxChannels: 3, maxProcessChannels: 2 });
    const op = () => conn.open('list', { frame: () => {}, closed: () => {} });
    for (let i = 0; i < 3; i++) op();
    assert.throws(op, (e: any) => e.code === 'capacity');
    for (let i = 0; i < 2; i++) openExec(conn);
    assert.throws(
      () => openExec(conn),
      (e: any) => e.code === 'capacity' && /processes/.test(e.message),
      'processes have a limit of their own',
    );
    conn.close();
  });

  test('output beyond the credit window is a violation (the agent ignored CREDIT)', async () => {
    const { agent, conn, closed } = await connected();
    const chunks = readFile(conn, '/big', { user: '', deadlines: { idleMs: 5000 } });
    const first = chunks.next();
    const ch = agent.received.at(-1)!.channel;
    for (let i = 0; i < 40; i++) agent.send(AgentFrame.FileData, ch, Buffer.alloc(32 * 1024));
    await first.catch(() => {});
    assert.ok((await closed) instanceof AgentProtocolError);
  });

  test('a file error from the agent ends only that operation', async () => {
    const { agent, conn } = await connected();
    const chunks = readFile(conn, '/missing', { user: '', deadlines: { idleMs: 5000 } });
    await assert.rejects(chunks.next(), /No such file/);
    agent.send(AgentFrame.Pong, 0, Buffer.alloc(0)); // would be a violation: proves the connection still judges frames
    await delay(10);
    assert.ok(conn.closed);
  });

  test('random and mutated byte streams never throw out of the connection', async () => {
    const valid = [
      raw(5 + 4, AgentFrame.Started, 1, u32(3)),
      raw(5 + 5, AgentFrame.Stdout, 1, Buffer.from('hello')),
      raw(5 + 8, AgentFrame.Exited, 1, u32(0, 0)),
      raw(5 + 4, AgentFrame.Hello, 0, Buffer.from('v1\0\0')),
      Buffer.from(errorPayload(2, 'x')),
    ];
    let uncaught: unknown;
    const onUncaught = (e: unknown) => (uncaught = e);
    process.on('uncaughtException', onUncaught);
    try {
      await fc.assert(
        fc.asyncProperty(
          fc.array(
            fc.oneof(fc.uint8Array({ maxLength: 64 }), fc.constantFrom(...valid.map((b) => new Uint8Array(b))), fc.uint8Array({ minLength: 9, maxLength: 9 })),
            { maxLength: 30 },
          ),
          fc.array(fc.nat(), { maxLength: 5 }),
          async (pieces, flips) => {
            const { agent, conn } = await connected();
            const ex = openExec(conn);
            void ex;
            const bytes = Buffer.concat(pieces.map((p) => Buffer.from(p)));
            for (const f of flips) if (bytes.length > 0) bytes[f % bytes.length] = (bytes[f % bytes.length] ?? 0) ^ 0xff;
            // Split at random-ish places: framing must not depend on how the bytes arrive.
            for (let off = 0; off < bytes.length; off += 7) agent.inject(bytes.subarray(off, off + 7));
            await delay(1);
            const err = conn.closeError;
            assert.ok(err === undefined || err instanceof AgentProtocolError || err instanceof ChannelClosedError, String(err));
            conn.close();
          },
        ),
        { numRuns: 300 },
      );
    } finally {
      process.off('uncaughtException', onUncaught);
    }
    assert.equal(uncaught, undefined);
  });

  test('processes: output before SUBSCRIBED, beyond the window, or a lying PROC_INFO are violations', async () => {
    {
      const { agent, conn, closed } = await connected();
      const ch = conn.open('subscribe', { frame: () => {}, closed: () => {} });
      agent.send(AgentFrame.Stdout, ch.id, Buffer.from('x'));
      assert.match((await closed).message, /before SUBSCRIBED/);
    }
    {
      const { agent, conn, closed } = await connected();
      agent.responsive = false; // this test answers for the agent
      const run = openProcess(conn, { id: 'p1', from: [0, 0] }, sink, { startTimeoutMs: 5000 });
      const chId = agent.received.at(-1)!.channel;
      const sub = Buffer.alloc(24);
      sub.writeUInt32BE(7, 0);
      agent.send(AgentFrame.Subscribed, chId, sub);
      await run;
      // Within the window (256 KiB, with slack) it is fine; far beyond it, the agent ignored its ACKs.
      for (let i = 0; i < 8; i++) agent.send(AgentFrame.Stdout, chId, Buffer.alloc(32 * 1024));
      await delay(20);
      assert.ok(!conn.closed, 'positive control: within the window');
      for (let i = 0; i < 40; i++) agent.send(AgentFrame.Stdout, chId, Buffer.alloc(32 * 1024));
      assert.match((await closed).message, /beyond its window/);
    }
    {
      const { agent, conn, closed } = await connected();
      agent.responsive = false;
      const listing = listProcesses(conn, 5000);
      listing.catch(() => {});
      const chId = agent.received.at(-1)!.channel;
      const info = Buffer.alloc(69 + 6);
      info.writeBigUInt64BE(10n, 33); // head 10
      info.writeBigUInt64BE(99n, 41); // acked 99: more than was ever written
      info.write('p1\0t\0c\0', 69);
      agent.send(AgentFrame.ProcInfo, chId, info);
      assert.ok((await closed) instanceof AgentProtocolError);
    }
  });

  test('a start answered after the host gave up kills an exec, never a process subscribed to again', async () => {
    const late = async (how: Parameters<typeof openProcess>[1]) => {
      const { agent, conn } = await connected();
      agent.responsive = false; // this test answers for the agent, late
      const run = openProcess(conn, how, sink, { startTimeoutMs: 50 });
      const chId = agent.received.at(-1)!.channel;
      await assert.rejects(run, /did not start the command within 50 ms/);
      const answer = Buffer.alloc('spec' in how ? 4 : 24);
      answer.writeUInt32BE(7, 0);
      agent.send('spec' in how ? AgentFrame.Started : AgentFrame.Subscribed, chId, answer);
      await delay(50);
      const signalled = agent.received.some((f) => f.type === HostFrame.Signal && f.channel === chId);
      conn.close();
      return signalled;
    };
    // Positive control: the check sees a kill where one is sent.
    assert.equal(await late({ spec: { argv: ['hold'], env: [], cwd: '/', user: '', keepStdin: false, id: 'p1' } }), true);
    assert.equal(await late({ id: 'p1', from: [0, 0] }), false);
  });

  test('an exec over the frame budget is refused before anything is sent', async () => {
    const { agent, conn } = await connected();
    const before = agent.received.length;
    const env = Array.from({ length: 40 }, (_, i) => `V${i}=${'x'.repeat(30_000)}`);
    assert.ok(encodeExec({ argv: ['true'], env, cwd: '', user: '', keepStdin: false, id: 'p1' }).length > 1024 * 1024);
    assert.throws(
      () => openProcess(conn, { spec: { argv: ['true'], env, cwd: '', user: '', keepStdin: false, id: 'p1' } }, sink, { startTimeoutMs: 1000 }),
      (e: any) => e.code === 'payload_too_large',
    );
    assert.equal(agent.received.length, before);
    assert.equal(conn.inFlight, 0, 'no handler is left behind');
    conn.close();
  });
});
