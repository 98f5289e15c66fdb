/**
 * @module conformance
 * The behaviour every runtime must show, run against the real server and the real runtime. A
 * runtime that differs on purpose skips a test with a written reason; it never gets a silently
 * different test. Isolation is judged on the host (canary files, host uids, cgroups), not by what
 * the sandbox reports.
 *
 * Over 400 lines on purpose: it is one suite, a list of cases every runtime meets in the same order,
 * and splitting it would only scatter the skips that document how runtimes differ.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { existsSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { release } from 'node:os';
import { after, before, describe, test } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';
import type { RuntimeName } from '@airlock/protocol';
import { findGuestKernel } from '@airlock/server/internal/host/vm/guest-kernel.js';
import { ID_RANGE_BASE } from '@airlock/server/internal/runtimes/oci-spec.js';
import { eventually, startTestServer, type Api, type TestServer } from './harness.js';
import { cgroupLimits, hostUid, isClean, processesMatching, remainsOf, renamedSleep } from './host-probe.js';

export interface ConformanceOptions {
  runtime: RuntimeName;
  /** Tests to skip, each with the reason the runtime differs. */
  skip?: { test: string; reason: string }[];
  /**
   * False where the runtime maps a single host uid, to `user` (bwrap: unprivileged, no subuid
   * range): there is no root inside, an exec as root must fail, and the strongest identity a
   * sandbox has is `user`, so isolation tests run as that.
   */
  rootInside?: boolean;
}

export function runtimeConformance({ runtime, skip = [], rootInside = true }: ConformanceOptions): void {
  const strongest = rootInside ? 'root' : 'user';
  const skipped = (name: string) => skip.find((s) => s.test === name)?.reason;
  const it = (name: string, fn: () => Promise<void>) => {
    const reason = skipped(name);
    return reason ? test(name, { skip: reason }, fn) : test(name, fn);
  };

  describe(`runtime conformance: ${runtime}`, { timeout: 10 * 60_000 }, () => {
    let t: TestServer;
    let api: Api;
    let sb: { id: string };

    before(async () => {
      t = await startTestServer();
      api = t.api;
      sb = await api.create({ runtime, env: { SANDBOX_VAR: 'from-create', SHADOWED: 'sandbox' } });
    });
    after(async () => {
      await t?.close();
    });

    it('runs a command and returns its output and exit code', async () => {
      const r = await api.exec(sb.id, { cmd: ['python3', '-c', 'print(6*7)'] });
      assert.equal(r.stdout, '42\n');
      assert.equal(r.exitCode, 0);
      assert.equal(r.reason, 'exit');
      const fail = await api.exec(sb.id, { cmd: 'echo oops >&2; exit 3' });
      assert.deepEqual([fail.exitCode, fail.stderr, fail.stdout], [3, 'oops\n', '']);
    });

    it('streams output in the order it is produced', async () => {
      const { status, events } = await api.stream(sb.id, { cmd: 'echo a; sleep 0.1; echo b >&2; sleep 0.1; echo c; exit 5' });
      assert.equal(status, 200);
      assert.equal(events[0].type, 'start');
      assert.ok(events[0].pid > 1);
      const output = events.filter((e) => e.type === 'stdout' || e.type === 'stderr').map((e) => `${e.type}:${e.text}`);
      assert.deepEqual(output, ['stdout:a\n', 'stderr:b\n', 'stdout:c\n']);
      assert.deepEqual(events.at(-1), { type: 'exit', exitCode: 5, signal: null, reason: 'exit', durationMs: events.at(-1).durationMs });
    });

    it('feeds stdin, text and binary', async () => {
      const r = await api.exec(sb.id, { cmd: ['cat'], stdin: 'hello\nworld' });
      assert.equal(r.stdout, 'hello\nworld');
      const bytes = randomBytes(200_000);
      const b = await api.exec(sb.id, { cmd: ['sha256sum'], stdin: bytes.toString('base64'), stdinEncoding: 'base64' });
      const { createHash } = await import('node:crypto');
      assert.equal(b.stdout.split(' ')[0], createHash('sha256').update(bytes).digest('hex'));
    });

    it('applies env (image < sandbox < exec), cwd and user', async () => {
      const r = await api.exec(sb.id, { cmd: 'echo "$SANDBOX_VAR $SHADOWED $ONLY_EXEC"; pwd; id -u', env: { SHADOWED: 'exec', ONLY_EXEC: 'x' }, cwd: '/tmp' });
      assert.equal(r.stdout, 'from-create exec x\n/tmp\n1000\n');
      if (rootInside) {
        const root = await api.exec(sb.id, { cmd: 'id -u; pwd; echo $HOME', user: 'root' });
        assert.equal(root.stdout, '0\n/root\n/root\n');
      } else {
        const root = await api.call('POST', `/v1/sandboxes/${sb.id}/exec`, { cmd: ['id', '-u'], user: 'root' });
        assert.deepEqual([root.status, root.body.code], [422, 'exec_failed'], 'no root inside: the switch to uid 0 is refused');
      }
      const bad = await api.call('POST', `/v1/sandboxes/${sb.id}/exec`, { cmd: ['true'], user: 'nosuchuser' });
      assert.equal(bad.status, 422);
      assert.equal(bad.body.code, 'exec_failed');
    });

    it('reports a command that cannot start as exec_failed', async () => {
      const r = await api.call('POST', `/v1/sandboxes/${sb.id}/exec`, { cmd: ['/no/such/binary'] });
      assert.equal(r.status, 422);
      assert.equal(r.body.code, 'exec_failed');
      assert.match(r.body.message, /No such file/);
    });

    it('runs several execs at once', async () => {
      // The reader finishes only if the writer runs while it waits: proof of concurrency without timing.
      await api.exec(sb.id, { cmd: 'rm -f /tmp/fifo; mkfifo /tmp/fifo' });
      const reader = api.exec(sb.id, { cmd: 'cat /tmp/fifo', timeout: 20 });
      await delay(100);
      const writer = api.exec(sb.id, { cmd: 'echo through-the-fifo > /tmp/fifo', timeout: 20 });
      const [r, w] = await Promise.all([reader, writer]);
      assert.equal(w.exitCode, 0);
      assert.equal(r.stdout, 'through-the-fifo\n');
      assert.equal(r.reason, 'exit');
      const many = await Promise.all(Array.from({ length: 8 }, (_, i) => api.exec(sb.id, { cmd: `echo ${i}` })));
      assert.deepEqual(
        many.map((m) => m.stdout),
        Array.from({ length: 8 }, (_, i) => `${i}\n`),
      );
    });

    it('kills a command at its timeout and by signal', async () => {
      const r = await api.exec(sb.id, { cmd: ['sleep', '30'], timeout: 0.5 });
      assert.equal(r.reason, 'timeout');
      assert.equal(r.signal, 9);
      const s = await api.exec(sb.id, { cmd: 'kill -TERM $$; sleep 5' });
      assert.deepEqual([s.reason, s.signal, s.exitCode], ['signal', 15, null]);
    });

    it('kills a streamed command when its client goes away', async () => {
      const marker = `abandoned${randomBytes(4).toString('hex')}`;
      const abort = new AbortController();
      const res = await fetch(`${api.url}/v1/sandboxes/${sb.id}/exec/stream`, {
        method: 'POST',
        headers: { authorization: `Bearer ${api.key}`, 'content-type': 'application/json' },
        body: JSON.stringify({ cmd: renamedSleep(marker, 60) }),
        signal: abort.signal,
      });
      const reader = res.body!.getReader();
      const first = new TextDecoder().decode((await reader.read()).value);
      assert.match(first, /"type":"start"/);
      // "start" comes at the fork; python needs a moment before its execv gives the process its name.
      let running = '0\n';
      for (let i = 0; i < 50 && running !== '1\n'; i++) {
        running = (await api.exec(sb.id, { cmd: countProcesses(marker) })).stdout;
        if (running !== '1\n') await delay(100);
      }
      assert.equal(running, '1\n', 'positive control: the command runs while the client reads');
      abort.abort();
      let left = '1\n';
      for (let i = 0; i < 50 && left !== '0\n'; i++) {
        await delay(100);
        left = (await api.exec(sb.id, { cmd: countProcesses(marker) })).stdout;
      }
      assert.equal(left, '0\n', 'the abandoned command was killed');
    });

    it('holds a flooding command at its pipe while the client does not read, and other commands run', async () => {
      const abort = new AbortController();
      const flood = [
        'python3',
        '-c',
        [
          'import sys',
          'n = 0',
          'while True:',
          '    sys.stdout.buffer.write(b"x" * 65536); sys.stdout.flush(); n += 65536',
          '    open("/tmp/written", "w").write(str(n))',
        ].join('\n'),
      ];
      const res = await fetch(`${api.url}/v1/sandboxes/${sb.id}/exec/stream`, {
        method: 'POST',
        headers: { authorization: `Bearer ${api.key}`, 'content-type': 'application/json' },
        body: JSON.stringify({ cmd: flood }),
        signal: abort.signal,
      });
      const reader = res.body!.getReader();
      await reader.read();
      const rssBefore = process.memoryUsage().rss;
      await delay(1500); // the client reads nothing meanwhile
      const written = Number((await api.exec(sb.id, { cmd: ['cat', '/tmp/written'] })).stdout);
      const rssGrowth = process.memoryUsage().rss - rssBefore;
      abort.abort();
      // Pipes, the agent's and shim's queues and socket buffers hold a few MiB; an unbounded path
      // would have taken gigabytes in that time.
      assert.ok(written > 0, 'positive control: the command did write');
      assert.ok(written < 32 * 1024 * 1024, `the command wrote ${written} bytes with nobody reading`);
      assert.ok(rssGrowth < 64 * 1024 * 1024, `server memory grew by ${rssGrowth} bytes`);
    });

    it('caps buffered output and flags it', async () => {
      const r = await api.exec(sb.id, { cmd: 'head -c 3000000 /dev/zero | tr "\\0" x', maxOutputBytes: 1000 });
      assert.equal(r.stdout.length, 1000);
      assert.equal(r.stdoutTruncated, true);
      assert.equal(r.exitCode, 0);
    });

    it('writes, reads and lists files through the agent', async () => {
      const data = randomBytes(300_000);
      const w = await api.call('PUT', `/v1/sandboxes/${sb.id}/files?path=/home/user/sub/dir/blob.bin`, data, { 'content-type': 'application/octet-stream' });
      assert.equal(w.status, 200, JSON.stringify(w.body));
      assert.equal(w.body.bytes, data.length);
      const r = await api.call('GET', `/v1/sandboxes/${sb.id}/files?path=/home/user/sub/dir/blob.bin`);
      assert.equal(r.status, 200);
      assert.ok(Buffer.compare(r.body, data) === 0, 'read back the same bytes');
      const seen = await api.exec(sb.id, { cmd: 'stat -c "%s %U" /home/user/sub/dir/blob.bin' });
      assert.equal(seen.stdout, `${data.length} user\n`);
      await api.exec(sb.id, { cmd: 'echo made-inside > /tmp/inside.txt' });
      const inside = await api.call('GET', `/v1/sandboxes/${sb.id}/files?path=/tmp/inside.txt`);
      assert.equal(inside.body.toString(), 'made-inside\n');
      const l = await api.call('GET', `/v1/sandboxes/${sb.id}/files/list?path=/home/user/sub/dir`);
      assert.equal(l.status, 200);
      assert.deepEqual(
        l.body.entries.map((e: any) => [e.name, e.type, e.size]),
        [['blob.bin', 'file', data.length]],
      );
    });

    it('lets the default user write where the image says it may', async () => {
      const r = await api.exec(sb.id, { cmd: 'for d in /tmp /var/tmp /home/user /dev/shm; do touch $d/w && echo $d; done' });
      assert.equal(r.stdout, '/tmp\n/var/tmp\n/home/user\n/dev/shm\n', r.stderr);
      const ro = await api.exec(sb.id, { cmd: 'for p in /usr/w /etc/w /w /.airlock/w; do touch $p 2>/dev/null && echo $p; done; echo end' });
      assert.equal(ro.stdout, 'end\n', 'and the shared, read-only places refuse');
    });

    it('rejects file paths the API does not allow and reports missing ones', async () => {
      const rel = await api.call('GET', `/v1/sandboxes/${sb.id}/files?path=etc/passwd`);
      assert.deepEqual([rel.status, rel.body.code], [400, 'invalid_request']);
      const missing = await api.call('GET', `/v1/sandboxes/${sb.id}/files?path=/no/such/file`);
      assert.deepEqual([missing.status, missing.body.code], [404, 'not_found']);
      const notDir = await api.call('GET', `/v1/sandboxes/${sb.id}/files/list?path=/etc/passwd`);
      assert.deepEqual([notDir.status, notDir.body.code], [422, 'file_error']);
      const ro = await api.call('PUT', `/v1/sandboxes/${sb.id}/files?path=/usr/bin/evil`, 'x', { 'content-type': 'application/octet-stream' });
      assert.deepEqual([ro.status, ro.body.code], [422, 'file_error']);
    });

    it('cannot read a host canary file, the host /etc or the server data dir', async () => {
      const secret = `canary-${randomBytes(8).toString('hex')}`;
      const canary = `/tmp/airlock-canary-${secret}`;
      writeFileSync(canary, secret, { mode: 0o644 });
      try {
        // Positive control: the same probe finds a file that the sandbox does have.
        const control = await api.exec(sb.id, { cmd: ['cat', '/etc/hostname'], user: strongest });
        assert.equal(control.exitCode, 0);
        const probe = await api.exec(sb.id, { cmd: ['cat', canary], user: strongest });
        assert.notEqual(probe.exitCode, 0);
        assert.ok(!probe.stdout.includes(secret));
        const grep = await api.exec(sb.id, { cmd: `grep -rs ${secret} /tmp /home /root /etc /run 2>/dev/null; echo done`, user: strongest });
        assert.equal(grep.stdout, 'done\n');
        const dataDir = t.server.config.dataDir;
        const dd = await api.exec(sb.id, { cmd: ['ls', dataDir], user: strongest });
        assert.notEqual(dd.exitCode, 0, `${dataDir} must not be visible inside`);
        const shadow = await api.exec(sb.id, { cmd: 'cat /etc/shadow; ls /home', user: strongest });
        assert.equal(shadow.stdout, 'user\n', 'no host /etc/shadow, only the sandbox home');
      } finally {
        rmSync(canary, { force: true });
      }
    });

    it('keeps two sandboxes apart: files and processes', async () => {
      const other = await api.create({ runtime });
      const marker = `marker-${randomBytes(6).toString('hex')}`;
      await api.exec(sb.id, { cmd: `echo ${marker} > /tmp/mine.txt` });
      const background = api.exec(sb.id, { cmd: renamedSleep(marker, 60), timeout: 90 });
      try {
        // Positive control: the first sandbox sees its own process, then its file and process.
        // Waited for, not slept for: python needs a moment before its execv names the process
        // (seconds under TCG).
        await eventually(
          'the marker process to run',
          async () => ((await api.exec(sb.id, { cmd: countProcesses(marker) })).stdout === '1\n' ? true : undefined),
          60_000,
        );
        const own = await api.exec(sb.id, { cmd: `cat /tmp/mine.txt; ${countProcesses(marker)}` });
        assert.equal(own.stdout, `${marker}\n1\n`);
        const theirs = await api.exec(other.id, { cmd: `cat /tmp/mine.txt 2>/dev/null; ${countProcesses(marker)}` });
        assert.equal(theirs.stdout, '0\n', 'neither the file nor the process of one sandbox is in the other');
      } finally {
        await api.call('DELETE', `/v1/sandboxes/${other.id}`);
        await api.exec(sb.id, { cmd: killProcesses(marker) });
        await background.catch(() => {});
      }
    });

    it('reports the kernel its isolation provides', async () => {
      const r = await api.exec(sb.id, { cmd: ['uname', '-r'] });
      if (runtime === 'gvisor') assert.notEqual(r.stdout.trim(), release(), 'gVisor answers with its own kernel');
      else if (runtime === 'microvm') {
        const guest = findGuestKernel(undefined);
        assert.ok('kernel' in guest, 'positive control: the host has a guest kernel');
        assert.equal(r.stdout.trim(), guest.kernel.version, 'a microVM runs the guest kernel');
        assert.notEqual(r.stdout.trim(), release());
      } else assert.equal(r.stdout.trim(), release(), 'runc shares the host kernel');
    });

    it('runs root inside as an unprivileged host uid', async () => {
      const marker = `uidprobe${randomBytes(4).toString('hex')}`;
      const running = api.exec(sb.id, { cmd: renamedSleep(marker, 3), user: strongest, timeout: 10 });
      let procs: { pid: number }[] = [];
      for (let i = 0; i < 50 && procs.length === 0; i++) {
        await delay(50);
        procs = processesMatching((cmd) => cmd.startsWith(marker));
      }
      assert.equal(procs.length, 1, 'the sandbox process is visible on the host');
      const uid = hostUid(procs[0]!.pid);
      assert.ok(uid >= ID_RANGE_BASE, `host uid ${uid} must be in Airlock's unprivileged range`);
      await running;
    });

    it('keeps its runtime state private to the server', async () => {
      const dir = join(t.server.config.dataDir, 'runtime');
      const modes = [dir, join(dir, runtime), ...['state', 'bundles', 'sockets'].map((d) => join(dir, runtime, d))]
        .filter((d) => existsSync(d))
        .map((d) => [d, statSync(d).mode & 0o777]);
      assert.ok(modes.length >= 3, `positive control: the runtime has state dirs (${JSON.stringify(modes)})`);
      for (const [d, mode] of modes) assert.equal((mode as number) & 0o077, 0, `${d} is ${(mode as number).toString(8)}: only the server may enter it`);
    });

    it('writes its cpu, memory and pids limits to the host cgroups', async () => {
      const limited = await api.create({ runtime, cpu: 0.5, memoryMiB: 256 });
      try {
        const limits = cgroupLimits(limited.id);
        const e = limited.enforced;
        assert.equal(e.memoryMiB, 256);
        // The host's limit is the guest's plus what the runtime itself needs (gVisor's sentry), as reported.
        assert.equal(limits.memoryBytes, (e.memoryMiB + e.memoryOverheadMiB) * 1024 * 1024);
        assert.equal(limits.cpuQuotaPerPeriod, 0.5);
        assert.equal(limits.pids, e.hostPids);
        assert.equal(e.pids, limited.pids, 'the guest may run as many processes as it asked for');
        // gVisor's sentry and a microVM's QEMU are host processes of their own, with headroom above the guest's limits.
        if (runtime !== 'gvisor' && runtime !== 'microvm')
          assert.deepEqual([e.memoryOverheadMiB, e.hostPids], [0, limited.pids], 'the host limits are the guest limits');
      } finally {
        await api.call('DELETE', `/v1/sandboxes/${limited.id}`);
      }
    });

    it('writes go to disk under the disk limit, not to memory', async () => {
      const small = await api.create({ runtime, memoryMiB: 128, diskMiB: 320 });
      try {
        // 200 MB into a 128 MiB sandbox: on a tmpfs this would be an OOM; on its disk it is a file.
        const big = Buffer.alloc(200 * 1024 * 1024, 7);
        const put = await api.call('PUT', `/v1/sandboxes/${small.id}/files?path=/home/user/big.bin`, big, { 'content-type': 'application/octet-stream' });
        assert.deepEqual([put.status, put.body.bytes], [200, big.length], JSON.stringify(put.body).slice(0, 300));
        const size = await api.exec(small.id, { cmd: 'stat -c %s /home/user/big.bin' });
        assert.equal(size.stdout.trim(), String(big.length));
        // Past the disk limit a write fails inside, and the sandbox goes on.
        const fill = await api.exec(small.id, { cmd: 'dd if=/dev/zero of=/tmp/fill bs=1M count=400 2>&1 | head -1; rm -f /tmp/fill', timeout: 120 });
        assert.match(fill.stdout, /quota|No space/i, JSON.stringify(fill));
        const after = (await api.call('GET', `/v1/sandboxes/${small.id}`)).body;
        assert.equal(after.state, 'running');
      } finally {
        await api.call('DELETE', `/v1/sandboxes/${small.id}`);
      }
    });

    it('runs many processes at once without losing the sandbox', async () => {
      // A make -j, a test runner or a worker pool: 40 processes, and 20 concurrent execs.
      const many = await api.exec(sb.id, { cmd: 'seq 1 40 | xargs -P 40 -I{} sleep 2; echo done', timeout: 120 });
      assert.deepEqual([many.exitCode, many.stdout], [0, 'done\n'], JSON.stringify(many));
      const execs = await Promise.all(Array.from({ length: 20 }, (_, i) => api.exec(sb.id, { cmd: `sleep 1; echo ${i}`, timeout: 120 })));
      assert.deepEqual(
        execs.map((e) => e.stdout),
        Array.from({ length: 20 }, (_, i) => `${i}\n`),
      );
      const after = (await api.call('GET', `/v1/sandboxes/${sb.id}`)).body;
      assert.equal(after.state, 'running');
    });

    it('kills a process that exceeds the memory limit and says so', async () => {
      const small = await api.create({ runtime, memoryMiB: 128 });
      try {
        const r = await api.exec(small.id, {
          cmd: ['python3', '-c', 'x = []\nwhile True: x.append(bytearray(16 << 20))'],
          timeout: 60,
        });
        assert.equal(r.reason, 'oom', JSON.stringify(r));
        const after = (await api.call('GET', `/v1/sandboxes/${small.id}`)).body;
        // Every runtime kills only the process that allocated (gVisor: the agent's guest watch, below the sentry's headroom).
        assert.equal(after.state, 'running', 'only the process that allocated is killed');
        assert.equal((await api.exec(small.id, { cmd: ['echo', 'alive'] })).stdout, 'alive\n');
      } finally {
        await api.call('DELETE', `/v1/sandboxes/${small.id}`);
      }
    });

    it('destroys a sandbox at its timeout', async () => {
      const short = await api.create({ runtime, timeout: 1 });
      let state = '';
      for (let i = 0; i < 100 && state !== 'destroyed'; i++) {
        await delay(100);
        state = (await api.call('GET', `/v1/sandboxes/${short.id}`)).body.state;
      }
      const final = (await api.call('GET', `/v1/sandboxes/${short.id}`)).body;
      assert.deepEqual([final.state, final.stopReason], ['destroyed', 'timeout']);
      await eventually('the timed-out sandbox to leave nothing', () => (isClean(remainsOf(short.id, t.server.config.dataDir)) ? true : undefined));
    });

    it('refuses exec into a destroyed sandbox', async () => {
      const gone = await api.create({ runtime });
      await api.call('DELETE', `/v1/sandboxes/${gone.id}`);
      const r = await api.call('POST', `/v1/sandboxes/${gone.id}/exec`, { cmd: ['true'] });
      assert.deepEqual([r.status, r.body.code], [409, 'invalid_state']);
    });

    it('leaves nothing on the host after destroy', async () => {
      const doomed = await api.create({ runtime });
      await api.exec(doomed.id, { cmd: 'sleep 100 & sleep 100 & echo started' });
      const before = remainsOf(doomed.id, t.server.config.dataDir);
      assert.ok(before.cgroups.length > 0 && before.processes.length > 0, 'positive control: a live sandbox has cgroups and a shim');
      const d = await api.call('DELETE', `/v1/sandboxes/${doomed.id}`);
      assert.deepEqual([d.status, d.body.state, d.body.stopReason], [200, 'destroyed', 'destroyed']);
      // Where teardown is slow (runsc) destroy answers before the release finishes: nothing runs any more...
      const r = await api.call('POST', `/v1/sandboxes/${doomed.id}/exec`, { cmd: ['true'] });
      assert.deepEqual([r.status, r.body.code], [409, 'invalid_state']);
      // ...and everything goes soon after, without anyone asking again.
      await eventually('the destroyed sandbox to leave nothing', () => (isClean(remainsOf(doomed.id, t.server.config.dataDir)) ? true : undefined));
      assert.deepEqual(remainsOf(doomed.id, t.server.config.dataDir), { cgroups: [], processes: [], mounts: [], paths: [] });
      const again = await api.call('DELETE', `/v1/sandboxes/${doomed.id}`);
      assert.equal(again.status, 200, 'destroy is idempotent');
    });
  });
}

/** A python expression: the pids (strings) of the processes whose argv[0] is `name`. */
const pidsNamed = (name: string) =>
  `[p for p in os.listdir('/proc') if p.isdigit() and open('/proc/'+p+'/cmdline','rb').read().split(b'\\0')[0] == b'${name}']`;

/** Kills (SIGKILL) the processes whose argv[0] is `name`. */
function killProcesses(name: string): string {
  return `python3 -c "import os,signal; [os.kill(int(p), signal.SIGKILL) for p in ${pidsNamed(name)}]"`;
}

/** Counts processes whose argv[0] is `name`, without counting the probe itself. */
function countProcesses(name: string): string {
  return `python3 -c "import os; print(len(${pidsNamed(name)}))"`;
}
