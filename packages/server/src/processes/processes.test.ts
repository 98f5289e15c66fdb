import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';
import { AgentFrame, HostFrame } from '@airlock/agent';
import { pino } from 'pino';
import { AgentConnection, DEFAULT_CHANNEL_LIMITS } from '../agent-channel/agent-connection.js';
import { FakeAgent } from '../agent-channel/fake-agent.js';
import { SandboxProcesses } from './processes.js';

const dirs: string[] = [];
after(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

function info(id: string): Buffer {
  const b = Buffer.alloc(69);
  b.writeUInt32BE(42, 0);
  b.writeUInt8(1, 8); // running
  return Buffer.concat([b, Buffer.from(`${id}\0tag\0cmd\0`)]);
}

/** A process table on a fake agent that this test answers for. */
async function tableWith(startTimeoutMs: number) {
  const root = mkdtempSync(join(tmpdir(), 'airlock-procs-'));
  dirs.push(root);
  const agent = new FakeAgent();
  const conn = await AgentConnection.connect(agent.transport(), { timeoutMs: 2000, limits: DEFAULT_CHANNEL_LIMITS });
  agent.responsive = false;
  const table = new SandboxProcesses(
    conn,
    join(root, 'journals', 'sb-1'),
    { journal: { maxBytes: 1 << 20, hotBytes: 1024 }, ringBytes: 1 << 20, keepExited: 8, startTimeoutMs, opTimeoutMs: 1000 },
    pino({ level: 'silent' }),
    {
      oomKills: () => 0,
      oomSince: async () => false,
      stopped: async () => ({ reason: null, detail: '' }),
    },
  );
  return { root, agent, conn, table };
}

describe('process table (fake agent)', { timeout: 20_000 }, () => {
  test('an id the server never gave is not adopted: it would name a host path', async () => {
    const { root, agent, conn, table } = await tableWith(1000);
    const done = table.reattach();
    await delay(20);
    const ch = agent.received.at(-1)!.channel;
    agent.send(AgentFrame.ProcInfo, ch, info('../../../escaped'));
    agent.send(AgentFrame.ProcInfo, ch, info('proc-0123456789abcdef')); // positive control: ours is adopted (SUBSCRIBE follows)
    agent.send(AgentFrame.ProcEnd, ch);
    await delay(50);
    assert.equal(agent.received.at(-1)!.type, HostFrame.Subscribe, 'our id: SUBSCRIBE was sent');
    const sub = Buffer.alloc(24);
    sub.writeUInt32BE(42, 0);
    agent.send(AgentFrame.Subscribed, agent.received.at(-1)!.channel, sub);
    await done;
    assert.deepEqual(
      table.list().map((e) => e.facts.id),
      ['proc-0123456789abcdef'],
    );
    assert.ok(!existsSync(join(root, 'escaped')), 'nothing outside the journals directory');
    conn.close();
    await table.close();
  });

  test('a process whose SUBSCRIBED comes after the timeout is followed when it comes, not left starting', async () => {
    const { agent, conn, table } = await tableWith(50);
    const done = table.reattach();
    await delay(20);
    agent.send(AgentFrame.ProcInfo, agent.received.at(-1)!.channel, info('proc-00000000000000aa'));
    agent.send(AgentFrame.ProcEnd, agent.received.at(-1)!.channel);
    await done; // gave up on the subscription after 50 ms
    const entry = table.list()[0]!;
    assert.equal(entry.state, 'starting', 'control: no answer yet, so not followed');
    const sub = agent.received.findLast((f) => f.type === HostFrame.Subscribe)!.channel;
    const subscribed = Buffer.alloc(24);
    subscribed.writeUInt32BE(42, 0);
    agent.send(AgentFrame.Subscribed, sub, subscribed);
    agent.send(AgentFrame.Stdout, sub, Buffer.from('still here\n'));
    await delay(50);
    assert.equal(entry.state, 'running');
    assert.equal(entry.journal.streamWritten[0], 'still here\n'.length, 'its output reaches the journal');
    assert.ok(!agent.received.some((f) => f.channel === sub && f.type === HostFrame.Signal), 'and it is not signalled');
    conn.close();
    await table.close();
  });
});
