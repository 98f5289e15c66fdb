/**
 * @module runtime-contract
 * What every Runtime must do, driven through the interface itself (no server, no HTTP): a started
 * sandbox's agent answers over its transport, destroy is idempotent and safe on a sandbox that was
 * never started, list forgets what was destroyed, and a new instance (a restarted server) adopts
 * what still runs. The HTTP conformance suite (test/conformance.ts) covers behaviour through the
 * API; this one pins the contract the sandbox layer relies on. A divergence is a skip with a reason.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, describe, test } from 'node:test';
import { AgentConnection } from '../agent-channel/agent-connection.js';
import type { Runtime, RuntimeSpec } from './runtime.js';

export interface ContractSubject {
  name: string;
  /** A runtime instance; called again to play a restarted server (same host state). */
  make(): Runtime;
  /** A spec whose root filesystem is ready for this runtime. */
  spec(id: string): Promise<RuntimeSpec>;
  cleanup?(): Promise<void>;
  skip?: { test: string; reason: string }[];
}

const newId = () => {
  const a = 'abcdefghijklmnopqrstuvwxyz0123456789';
  return `sb-${[...randomBytes(20)].map((b) => a[b % 36]).join('')}`;
};

export function runtimeContract(s: ContractSubject): void {
  const it = (name: string, fn: () => Promise<void>) => {
    const reason = s.skip?.find((k) => k.test === name)?.reason;
    return reason ? test(name, { skip: reason }, fn) : test(name, fn);
  };
  describe(`runtime contract: ${s.name}`, { timeout: 180_000 }, () => {
    const started: string[] = [];
    after(async () => {
      const r = s.make();
      for (const id of started) await r.destroy(id).catch(() => {});
      await s.cleanup?.();
    });

    it('a started sandbox runs and its agent answers over the transport', async () => {
      const runtime = s.make();
      assert.deepEqual(await runtime.availability(), { available: true });
      const id = newId();
      started.push(id);
      const handle = await runtime.start(await s.spec(id));
      assert.equal(await runtime.status(id), 'running');
      const conn = await AgentConnection.connect(handle.transport, { timeoutMs: 10_000 });
      assert.ok((await conn.ping()) >= 0);
      conn.close();
      assert.ok((await runtime.list()).includes(id));
      assert.ok(handle.enforced.hostPids >= (await s.spec(id)).pids || handle.enforced.pids !== null);
      await handle.sync();
      handle.close();
      await runtime.destroy(id);
    });

    it('destroy is idempotent and safe on a sandbox that was never started', async () => {
      const runtime = s.make();
      const never = newId();
      await runtime.destroy(never);
      await runtime.destroy(never);
      assert.equal(await runtime.status(never), 'absent');
      const id = newId();
      started.push(id);
      (await runtime.start(await s.spec(id))).close();
      await runtime.destroy(id);
      await runtime.destroy(id);
      assert.equal(await runtime.status(id), 'absent');
    });

    it('list forgets what was destroyed', async () => {
      const runtime = s.make();
      const id = newId();
      started.push(id);
      (await runtime.start(await s.spec(id))).close();
      assert.ok((await runtime.list()).includes(id));
      await runtime.destroy(id);
      assert.ok(!(await runtime.list()).includes(id));
    });

    it('stop ends the sandbox and its channel, and destroy then removes it', async () => {
      const runtime = s.make();
      const id = newId();
      started.push(id);
      const handle = await runtime.start(await s.spec(id));
      const conn = await AgentConnection.connect(handle.transport, { timeoutMs: 10_000 });
      const closed = new Promise<void>((r) => conn.onClose(() => r()));
      await runtime.stop(id);
      await closed;
      assert.notEqual(await runtime.status(id), 'running');
      await runtime.destroy(id);
      assert.equal(await runtime.status(id), 'absent');
    });

    it('a new instance (a restarted server) adopts a running sandbox and reaches its agent', async () => {
      const first = s.make();
      const id = newId();
      started.push(id);
      const spec = await s.spec(id);
      (await first.start(spec)).close();
      const second = s.make();
      const handle = await second.adopt(id, spec);
      assert.ok(handle, 'adopted');
      const conn = await AgentConnection.connect(handle.transport, { timeoutMs: 10_000 });
      assert.ok((await conn.ping()) >= 0);
      conn.close();
      handle.close();
      await second.destroy(id);
      assert.equal(await second.adopt(id, spec), undefined, 'nothing to adopt once destroyed');
    });
  });
}
