/**
 * The agent (PID 1) against its own sandbox, on every runtime through a real server: what a sandbox
 * process can still reach of PID 1 (with the dumpable test build of the agent as the positive
 * control), the start window of an exec held by SIGSTOP, and file operations as the user through
 * planted symlinks, magic links, FIFOs, devices and /proc. Results are judged outside the process
 * that attacks: by the host's view of what was read, written and answered.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, test, type TestContext } from 'node:test';
import type { RuntimeName } from '@airlock/protocol';
import { newDataDir, startTestServer, type Api, type TestServer } from '@airlock/testkit/harness.js';
import { LONG_PATH, PID1_REACH, STOP_IN_START_WINDOW } from './agent-probes.js';
import { withDumpableAgent } from './agent-under-test.js';

const RUNTIMES: { runtime: RuntimeName; rootInside: boolean }[] = [
  { runtime: 'gvisor', rootInside: true },
  { runtime: 'runc', rootInside: true },
  { runtime: 'bwrap', rootInside: false },
];

type Counts = { ok: number; errors: Record<string, number> };
type Reach = Record<'self_pipe' | 'fd0' | 'fd1' | 'mem' | 'fd_list' | 'ptrace' | 'sigstop', Counts>;

/** Fails instead of hanging when the agent stops answering. */
function within<T>(what: string, p: Promise<T>, ms = 20_000): Promise<T> {
  let timer: NodeJS.Timeout;
  return Promise.race([
    p.finally(() => clearTimeout(timer)),
    new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`${what}: no answer within ${ms} ms`)), ms))),
  ]);
}

async function reach(api: Api, id: string, user: string): Promise<Reach> {
  const r = await api.exec(id, { cmd: ['python3', '-c', PID1_REACH], user, timeout: 60 });
  assert.equal(r.exitCode, 0, r.stderr);
  return JSON.parse(r.stdout) as Reach;
}

/** A file operation's outcome as the API client sees it: the bytes, or the status and message. */
interface Outcome {
  status: number;
  data?: string;
  names?: string[];
  bytes?: number;
  message?: string;
}

async function fileCall(api: Api, method: string, route: string, path: string, user: string, body?: string, mode?: number): Promise<Outcome> {
  const q = `path=${encodeURIComponent(path)}&user=${encodeURIComponent(user)}${mode === undefined ? '' : `&mode=${mode.toString(8)}`}`;
  const r = await within(
    `${method} ${path} as ${user}`,
    api.call(method, `${route}?${q}`, body, body === undefined ? {} : { 'content-type': 'application/octet-stream' }),
  );
  if (r.status !== 200) return { status: r.status, message: String(r.body.message) };
  if (Buffer.isBuffer(r.body)) return { status: 200, data: r.body.toString() };
  if (r.body.entries) return { status: 200, names: r.body.entries.map((e: { name: string }) => e.name).sort() };
  return { status: 200, bytes: r.body.bytes };
}

const refused = (o: Outcome, why: string) =>
  o.status === 422 && o.data === undefined && o.names === undefined && o.bytes === undefined && (o.message ?? '').includes(why);

describe('agent hardening on the real runtimes', { timeout: 20 * 60_000 }, () => {
  let release: TestServer;
  let dumpable: TestServer;
  before(async () => {
    release = await startTestServer(newDataDir('agent-hardening'));
    dumpable = await startTestServer(newDataDir('agent-dumpable'), {}, { createRuntime: withDumpableAgent });
  });
  after(async () => {
    await release?.close();
    await dumpable?.close();
  });

  for (const { runtime, rootInside } of RUNTIMES) {
    describe(runtime, () => {
      const strongest = rootInside ? 'root' : 'user';
      let id: string;
      before(async () => {
        id = (await release.api.create({ runtime })).id;
      });
      after(async () => {
        if (id) await release.api.call('DELETE', `/v1/sandboxes/${id}`);
      });

      test('PID 1 is non-dumpable: its memory is out of reach where the dumpable build is not', async (t: TestContext) => {
        const control = (await dumpable.api.create({ runtime })).id;
        try {
          for (const user of rootInside ? ['root', 'user'] : ['user']) {
            const r = await reach(release.api, id, user);
            const c = await reach(dumpable.api, control, user);
            t.diagnostic(`${runtime} ${user} release ${JSON.stringify(r)}`);
            t.diagnostic(`${runtime} ${user} dumpable ${JSON.stringify(c)}`);
            assert.equal(r.self_pipe.ok, 20, 'positive control of the method: the probe reopens its own pipe');
            assert.equal(r.mem.ok, 0, `${user} cannot open /proc/1/mem for writing`);
            assert.equal(r.ptrace.ok, 0, `${user} cannot ptrace PID 1`);
            if (user === 'user') {
              for (const k of ['fd0', 'fd1', 'sigstop'] as const) assert.equal(r[k].ok, 0, `user cannot reach PID 1 (${k})`);
            }
            if (runtime === 'runc' && user === 'root') {
              // The pipes belong to host root, outside the user namespace: no DAC override reaches them.
              assert.deepEqual([r.fd0.ok, r.fd1.ok, c.fd0.ok], [0, 0, 0]);
              assert.equal(r.sigstop.ok, 0, 'the kernel ignores SIGSTOP to the init of a PID namespace from inside');
            }
          }
          // Positive controls: where the same uid (bwrap's user) or root in the user namespace (runc)
          // meets a dumpable agent, its memory is writable; non-dumpable is what closes it.
          if (runtime === 'bwrap') assert.equal((await reach(dumpable.api, control, 'user')).mem.ok, 20);
          if (runtime === 'runc') assert.equal((await reach(dumpable.api, control, 'root')).mem.ok, 20);
        } finally {
          await dumpable.api.call('DELETE', `/v1/sandboxes/${control}`);
        }
      });

      test('children stopped between setuid and exec do not stop the agent', async () => {
        const tag = randomBytes(4).toString('hex');
        const result = `/tmp/stopper-${tag}.json`,
          letGo = `/tmp/stopper-${tag}.release`;
        // Held at most 90 s: longer than any deadline below, so a frozen agent fails the test.
        const attack = release.api.exec(id, { cmd: ['python3', '-c', STOP_IN_START_WINDOW, '4', '90', result, letGo], user: 'user', timeout: 120 });
        let attacking = true;
        attack.catch(() => {}); // awaited below; a failure before that must not go unhandled
        const workers = Array.from({ length: 4 }, async () => {
          const codes: (number | string)[] = [];
          try {
            while (attacking) codes.push((await release.api.exec(id, { cmd: ['true'], user: 'user', env: { PATH: LONG_PATH }, timeout: 40 })).exitCode);
          } catch (e) {
            codes.push(String(e)); // judged below, with the others
          }
          return codes;
        });
        // Every poll is a file read through the agent: it must answer all along.
        let report: { caught: number; kills: number } | undefined;
        while (!report) {
          const r = await within('a file read during the attack', release.api.call('GET', `/v1/sandboxes/${id}/files?path=${result}`));
          if (r.status === 200) report = JSON.parse(r.body.toString());
          else await new Promise((res) => setTimeout(res, 100));
        }
        attacking = false;
        assert.ok(report.caught >= 1, `positive control: children were caught in the start window (${JSON.stringify(report)})`);
        // They are still held stopped: the agent answers execs and reads meanwhile.
        const alive = await within('an exec while children are held stopped', release.api.exec(id, { cmd: ['echo', 'alive'], user: strongest, timeout: 10 }));
        assert.equal(alive.stdout, 'alive\n');
        const host = await within('a read while children are held stopped', release.api.call('GET', `/v1/sandboxes/${id}/files?path=/etc/hostname`));
        assert.equal(host.status, 200);
        // Let go (a write through the agent), every exec of the attack window finishes normally.
        const w = await within(
          'the release write',
          release.api.call('PUT', `/v1/sandboxes/${id}/files?path=${letGo}`, 'go', { 'content-type': 'application/octet-stream' }),
        );
        assert.equal(w.status, 200, JSON.stringify(w.body));
        assert.equal((await within('the attack', attack, 60_000)).exitCode, 0);
        const codes = (await within('the execs caught in the window', Promise.all(workers), 60_000)).flat();
        assert.ok(codes.length >= 4 && codes.every((c) => c === 0), JSON.stringify(codes));
      });

      test('file operations run with the rights of their user', async () => {
        const api = release.api;
        const sh = (cmd: string, user = strongest) => api.exec(id, { cmd, user, timeout: 30 });
        const files = `/v1/sandboxes/${id}/files`;
        const read = (path: string, user: string) => fileCall(api, 'GET', files, path, user);
        const list = (path: string, user: string) => fileCall(api, 'GET', `${files}/list`, path, user);
        const write = (path: string, user: string, mode = 0o644) => fileCall(api, 'PUT', files, path, user, 'written-by-the-api', mode);
        // Planted by a sandbox process: links to the agent's own fds, a FIFO.
        await sh('ln -sf /proc/self/fd/0 /tmp/magic-fd0; ln -sf /proc/1/fd/1 /tmp/magic-pid-fd1; rm -f /tmp/fifo; mkfifo /tmp/fifo', 'user');
        for (const user of rootInside ? ['user', 'root'] : ['user']) {
          for (const path of ['/tmp/magic-fd0', '/tmp/magic-pid-fd1', '/tmp/fifo', '/dev/zero', '/proc/1/mem', '/proc/kmsg']) {
            const r = await read(path, user);
            assert.ok(r.status !== 200 && r.data === undefined, `${path} as ${user}: refused, not read (${JSON.stringify(r)})`);
          }
        }
        assert.ok(refused(await read('/tmp/fifo', 'user'), 'Invalid argument'), 'a FIFO is not a regular file');
        assert.equal((await read('/etc/hostname', 'user')).status, 200, 'positive control: the user reads');
        if (!rootInside) {
          assert.ok(refused(await write('/tmp/as-root', 'root'), 'Operation not permitted'), 'no root to switch to under bwrap');
          return;
        }
        // A root-only place, and the user's links into it.
        await sh(
          'mkdir -p /tmp/vault/open && echo root-secret > /tmp/vault/secret && chmod 644 /tmp/vault/secret && chmod 777 /tmp/vault/open && chmod 700 /tmp/vault',
        );
        await sh(
          'ln -sfn /tmp/vault/secret ~/to-secret; ln -sfn /tmp/vault ~/to-vault; ln -sfn /proc/1/root/tmp/vault/secret ~/magic-root; ln -sfn /proc/self/root/tmp/vault/secret ~/magic-self-root',
          'user',
        );
        const home = '/home/user';
        assert.equal((await read(`${home}/to-secret`, 'root')).data, 'root-secret\n', 'positive control: root follows the link');
        // The agent resolves /proc/self and /proc/1 as itself; the same kind of link leads there for root.
        assert.equal((await sh('cat /proc/self/root/tmp/vault/secret')).stdout, 'root-secret\n', 'positive control: a magic link leads there');
        assert.ok(refused(await read(`${home}/to-secret`, 'user'), 'Permission denied'));
        for (const link of ['magic-root', 'magic-self-root']) {
          const magic = await read(`${home}/${link}`, 'user');
          assert.ok(magic.status !== 200 && magic.data === undefined, `${link}: ${JSON.stringify(magic)}`);
        }
        assert.deepEqual((await list(`${home}/to-vault`, 'root')).names, ['open', 'secret']);
        assert.ok(refused(await list(`${home}/to-vault`, 'user'), 'Permission denied'));

        assert.ok(refused(await write(`${home}/to-vault/open/evil`, 'user'), 'Permission denied'));
        assert.ok(refused(await write(`${home}/to-vault/made/by/user`, 'user'), 'Permission denied'), 'no mkdir -p where the user may not');
        assert.equal((await sh('ls -A /tmp/vault /tmp/vault/open')).stdout, '/tmp/vault:\nopen\nsecret\n\n/tmp/vault/open:\n', 'nothing was created');
        assert.equal((await write(`${home}/to-vault/open/by-root`, 'root')).bytes, 18, 'positive control: root writes there');
        assert.equal((await sh('stat -c %u /tmp/vault/open/by-root')).stdout, '0\n');
        assert.equal((await write(`${home}/made/suid`, 'user', 0o4755)).bytes, 18);
        assert.equal(
          (await sh(`stat -c '%u %g %a' ${home}/made ${home}/made/suid`)).stdout,
          '1000 1000 755\n1000 1000 4755\n',
          'the user gets its own ids only',
        );
      });
    });
  }
});
