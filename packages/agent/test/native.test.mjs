// End-to-end test of Airlock's native pair, without containers: the shim
// starts the agent (the sanitized test build) through a launcher that leaves
// it running detached on the shim's pipes, and the test speaks PROTOCOL.md
// frames over the shim socket.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import crypto from 'node:crypto';
import {
  SHIM,
  T,
  ENOENT,
  EINVAL,
  ECANCELED,
  sleep,
  u32,
  u64s,
  cstr,
  encode,
  execPayload,
  Client,
  procState,
  alive,
  rssKiB,
  waitGone,
  startPair,
  sanitizerReports,
} from './native-pair.mjs';

// ---- the suite ----

let chanSeq = 1;
const newChan = () => chanSeq++;

describe('airlock native agent + shim', { timeout: 180_000 }, () => {
  let dir, sockPath, shim, c, agentPid;

  const exec = async (opts, { stdinData, close = true, ms } = {}) => {
    const ch = newChan();
    c.send(T.EXEC, ch, execPayload({ ...opts, stdin: opts.stdin ?? stdinData !== undefined }));
    if (stdinData !== undefined) {
      c.send(T.STDIN, ch, Buffer.from(stdinData));
      if (close) c.send(T.STDIN_CLOSE, ch);
    }
    return c.collect(ch, ms);
  };

  before(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'airlock-native-'));
    fs.chmodSync(dir, 0o755); // writes as other users below need to reach it
    ({ shim, sockPath, client: c } = await startPair(dir));
  });

  after(async () => {
    if (c) c.close();
    if (shim && alive(shim.pid)) process.kill(shim.pid, 'SIGKILL');
    if (agentPid && alive(agentPid)) process.kill(agentPid, 'SIGKILL');
    if (dir) {
      const reports = sanitizerReports(dir);
      fs.rmSync(dir, { recursive: true, force: true });
      assert.deepEqual(reports, [], 'the sanitizers found nothing');
    }
  });

  it('a failing runtime is reported as error <status> with its stderr', async () => {
    const p = spawn(SHIM, ['--socket', path.join(dir, 'bad.sock'), '--', 'sh', '-c', 'echo boom >&2; exit 7'], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    p.stdout.on('data', (d) => {
      out += d;
    });
    const code = await new Promise((r) => p.on('exit', r));
    assert.equal(out, 'error 7\nboom\n');
    assert.equal(code, 1);
  });

  it('sends HELLO once on channel 0', async () => {
    const f = await c.next(0);
    assert.equal(f.type, T.HELLO);
    assert.equal(f.payload.at(-1), 0);
    assert.match(f.payload.subarray(0, -1).toString(), /^airlock-agent /);
  });

  it('echo hi: STARTED, STDOUT, EXITED 0', async () => {
    const r = await exec({ args: ['echo', 'hi'] });
    assert.deepEqual(r.frames, [T.STARTED, T.STDOUT, T.EXITED]);
    assert.equal(r.out, 'hi\n');
    assert.equal(r.code, 0);
    assert.equal(r.signo, 0);
    assert.ok(r.pid > 0);
  });

  it('reports the exit code and stderr', async () => {
    const r = await exec({ args: ['sh', '-c', 'echo oops >&2; exit 3'] });
    assert.equal(r.code, 3);
    assert.equal(r.err, 'oops\n');
    assert.equal(r.out, '');
  });

  it('round-trips stdin through cat', async () => {
    const data = crypto.randomBytes(200000);
    const ch = newChan();
    c.send(T.EXEC, ch, execPayload({ args: ['cat'], stdin: true }));
    for (let i = 0; i < data.length; i += 65536) c.send(T.STDIN, ch, data.subarray(i, i + 65536));
    c.send(T.STDIN_CLOSE, ch);
    const r = await c.collect(ch);
    assert.equal(r.code, 0);
    assert.ok(Buffer.concat(r.stdout).equals(data));
  });

  it('without the stdin flag the process reads /dev/null', async () => {
    const r = await exec({ args: ['cat'] });
    assert.equal(r.code, 0);
    assert.equal(r.out, '');
  });

  it('passes env and cwd, adds PATH/HOME/USER only when absent', async () => {
    let r = await exec({ args: ['sh', '-c', 'echo "$FOO|$(pwd)|$HOME|$USER|$PATH"'], env: { FOO: 'bar baz' }, cwd: '/tmp' });
    assert.equal(r.out, 'bar baz|/tmp|/root|root|/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\n');
    r = await exec({ args: ['sh', '-c', 'echo "$HOME|$USER|$(pwd)"'], env: { HOME: '/h', USER: 'u', PATH: '/usr/bin:/bin' } });
    assert.equal(r.out, '/h|u|/root\n');
    r = await exec({ args: ['env'], env: { A: '1' } });
    assert.deepEqual(r.out.trim().split('\n').sort(), ['A=1', 'HOME=/root', 'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', 'USER=root']);
  });

  it('switches user (name, uid, uid:gid) and drops groups', async () => {
    let r = await exec({ args: ['sh', '-c', 'echo $(id -u) $(id -g) $(id -G) "$HOME" $(pwd)'], user: 'nobody' });
    assert.equal(r.out, '65534 65534 65534 /nonexistent /\n');
    r = await exec({ args: ['sh', '-c', 'echo $(id -u) $(id -g) $(id -G)'], user: '1234:5678' });
    assert.equal(r.out, '1234 5678 5678\n');
    r = await exec({ args: ['id', '-u'], user: 'no-such-user-xyz' });
    assert.equal(r.error.errno, EINVAL);
  });

  it('leaks no agent fds, raises oom_score_adj above the agent and resets signals', async () => {
    const r = await exec({ args: ['ls', '-1', '/proc/self/fd'] });
    assert.deepEqual(r.out.trim().split('\n'), ['0', '1', '2', '3']);
    const s = await exec({ args: ['sh', '-c', 'cat /proc/self/oom_score_adj; grep -E "^Sig(Ign|Blk)" /proc/self/status'] });
    assert.equal(s.out, '500\nSigBlk:\t0000000000000000\nSigIgn:\t0000000000000000\n');
  });

  it('missing command: ERROR ENOENT and no STARTED', async () => {
    const r = await exec({ args: ['/no/such/cmd'] });
    assert.deepEqual(r.frames, [T.ERROR]);
    assert.equal(r.error.errno, ENOENT);
    const r2 = await exec({ args: ['no-such-command-xyz'] });
    assert.equal(r2.error.errno, ENOENT);
    assert.equal(r2.error.message, "exec 'no-such-command-xyz': No such file or directory");
    const r3 = await exec({ args: ['true'], cwd: '/no/such/dir' });
    assert.equal(r3.error.errno, ENOENT);
    assert.equal(r3.error.message, 'cwd /no/such/dir: No such file or directory', 'the failing step and its path are named');
    const r4 = await exec({ args: ['true'], cwd: '/etc/passwd' });
    assert.deepEqual([r4.frames, r4.error.message], [[T.ERROR], 'cwd /etc/passwd: Not a directory']);
  });

  it('SIGNAL 9 kills the process group', async () => {
    const ch = newChan();
    c.send(T.EXEC, ch, execPayload({ args: ['sh', '-c', 'sleep 100 & sleep 100'] }));
    const st = await c.next(ch);
    assert.equal(st.type, T.STARTED);
    await sleep(100);
    c.send(T.SIGNAL, ch, u32(9));
    const r = await c.collect(ch);
    assert.equal(r.code, -1);
    assert.equal(r.signo, 9);
  });

  it('sends EXITED ~100 ms after the reap when a descendant keeps the pipes', async () => {
    const t0 = Date.now();
    const r = await exec({ args: ['sh', '-c', 'echo done; sleep 3 &'] });
    assert.equal(r.out, 'done\n');
    assert.equal(r.code, 0);
    assert.ok(Date.now() - t0 < 2000, `took ${Date.now() - t0} ms`);
  });

  it('reaps orphans', async () => {
    const r = await exec({ args: ['sh', '-c', 'echo $PPID; (sleep 0.2 &) ; exit 0'] });
    agentPid = Number(r.out.trim());
    assert.ok(alive(agentPid));
    await sleep(600);
    const zombies = fs
      .readdirSync('/proc')
      .filter((p) => /^\d+$/.test(p))
      .filter((p) => {
        const s = procState(p);
        return s && Number(s[1]) === agentPid && s[0] === 'Z';
      });
    assert.deepEqual(zombies, []);
  });

  it('runs execs concurrently', async () => {
    const t0 = Date.now();
    const rs = await Promise.all(Array.from({ length: 12 }, (_, i) => exec({ args: ['sh', '-c', 'sleep 0.5; echo $0; echo e$0 >&2', String(i)] })));
    rs.forEach((r, i) => {
      assert.equal(r.out, `${i}\n`);
      assert.equal(r.err, `e${i}\n`);
      assert.equal(r.code, 0);
    });
    assert.ok(Date.now() - t0 < 3000);
  });

  it('PING -> PONG; unknown type -> ERROR', async () => {
    c.send(T.PING, 0, Buffer.from('abc'));
    const f = await c.next(0);
    assert.equal(f.type, T.PONG);
    assert.equal(f.payload.toString(), 'abc');
    c.send(0x7f, 4242);
    const e = await c.next(4242);
    assert.equal(e.type, T.ERROR);
  });

  it('writes and reads back 300 KiB of binary data', async () => {
    const data = crypto.randomBytes(300 * 1024);
    // Written as 1234:5678, so only where that user may create directories.
    const shared = path.join(dir, 'shared');
    fs.mkdirSync(shared, { mode: 0o777 });
    fs.chmodSync(shared, 0o777);
    const target = path.join(shared, 'w', 'deep', 'file.bin');
    const ch = newChan();
    c.send(T.FILE_WRITE, ch, Buffer.concat([u32(0o640), u32(1), cstr(target), cstr('1234:5678')]));
    for (let i = 0; i < data.length; i += 65536) c.send(T.FILE_DATA, ch, data.subarray(i, i + 65536));
    c.send(T.FILE_END, ch);
    const w = await c.collect(ch);
    assert.equal(w.error, undefined);
    assert.equal(w.bytes, data.length);
    const st = fs.statSync(target);
    assert.equal(st.mode & 0o7777, 0o640);
    assert.equal(st.uid, 1234);
    assert.equal(st.gid, 5678);
    assert.equal(fs.statSync(path.join(shared, 'w')).uid, 1234);
    assert.equal(fs.statSync(path.join(shared, 'w', 'deep')).gid, 5678);
    assert.deepEqual(fs.readdirSync(path.join(shared, 'w', 'deep')), ['file.bin']);
    assert.ok(fs.readFileSync(target).equals(data));

    const rch = newChan();
    c.send(T.FILE_READ, rch, cstr(target));
    const r = await c.collect(rch);
    assert.equal(r.frames.at(-1), T.RFILE_END);
    assert.ok(r.content.equals(data));

    // Without the parents flag a missing directory is an error.
    const ech = newChan();
    c.send(T.FILE_WRITE, ech, Buffer.concat([u32(0o644), u32(0), cstr(path.join(dir, 'nope', 'f')), cstr('')]));
    assert.equal((await c.collect(ech)).error.errno, ENOENT);
    const mch = newChan();
    c.send(T.FILE_READ, mch, cstr(path.join(dir, 'missing')));
    assert.equal((await c.collect(mch)).error.errno, ENOENT);
  });

  it('CANCEL removes a partial write', async () => {
    const target = path.join(dir, 'cancelled.txt');
    const ch = newChan();
    c.send(T.FILE_WRITE, ch, Buffer.concat([u32(0o644), u32(0), cstr(target), cstr('')]));
    c.send(T.FILE_DATA, ch, Buffer.from('partial'));
    c.send(T.CANCEL, ch);
    const r = await c.collect(ch);
    assert.equal(r.error.errno, ECANCELED);
    assert.ok(!fs.readdirSync(dir).some((n) => n.startsWith('.airlock-tmp') || n === 'cancelled.txt'));
  });

  it('lists a directory', async () => {
    const d = path.join(dir, 'list');
    fs.mkdirSync(d);
    fs.writeFileSync(path.join(d, 'a.txt'), 'hello');
    fs.chmodSync(path.join(d, 'a.txt'), 0o604);
    fs.mkdirSync(path.join(d, 'sub'));
    fs.symlinkSync('a.txt', path.join(d, 'link'));
    for (let i = 0; i < 1500; i++) fs.writeFileSync(path.join(d, `many-${String(i).padStart(4, '0')}-${'x'.repeat(40)}`), '');
    const ch = newChan();
    c.send(T.LIST_DIR, ch, cstr(d));
    const r = await c.collect(ch);
    assert.ok(r.frames.filter((t) => t === T.DIR_ENTRIES).length >= 2, 'expected several DIR_ENTRIES frames');
    const byName = Object.fromEntries(r.entries.map((e) => [e.name, e]));
    assert.equal(r.entries.length, 1503);
    assert.equal(byName['a.txt'].kind, 'f');
    assert.equal(byName['a.txt'].size, 5);
    assert.equal(byName['a.txt'].mode, 0o604);
    assert.ok(Math.abs(byName['a.txt'].mtime - Date.now() / 1000) < 60);
    assert.equal(byName.sub.kind, 'd');
    assert.equal(byName.link.kind, 'l');
    assert.ok(!byName['.'] && !byName['..']);
  });

  it('relative paths are EINVAL', async () => {
    for (const [type, payload] of [
      [T.FILE_READ, cstr('etc/passwd')],
      [T.LIST_DIR, cstr('.')],
      [T.FILE_WRITE, Buffer.concat([u32(0o644), u32(1), cstr('x/y'), cstr('')])],
    ]) {
      const ch = newChan();
      c.send(type, ch, payload);
      const r = await c.collect(ch);
      assert.equal(r.error.errno, EINVAL);
    }
  });

  it('rejects malformed EXEC payloads', async () => {
    for (const payload of [
      Buffer.alloc(0),
      Buffer.concat([u32(0), cstr(''), cstr(''), u32(0xffffffff)]),
      Buffer.concat([u32(0), cstr(''), cstr(''), u32(1), Buffer.from('echo')]),
      Buffer.concat([u32(0), cstr(''), cstr(''), u32(0), u32(0)]),
    ]) {
      const ch = newChan();
      c.send(T.EXEC, ch, payload);
      assert.equal((await c.collect(ch)).error.errno, EINVAL);
    }
  });

  it('survives reconnects, including a host that died mid-frame', async () => {
    c.close();
    c = await Client.connect(sockPath);
    let r = await exec({ args: ['echo', 'again'] });
    assert.equal(r.out, 'again\n');

    // Half a frame, then gone: the agent must never see it.
    const half = encode(T.EXEC, newChan(), execPayload({ args: ['echo', 'x'] })).subarray(0, 12);
    c.sock.write(half);
    await sleep(50);
    c.close();
    c = await Client.connect(sockPath);
    r = await exec({ args: ['echo', 'still'] });
    assert.equal(r.out, 'still\n');

    // A new connection replaces the old one.
    const old = c;
    c = await Client.connect(sockPath);
    await new Promise((res) => (old.closed ? res() : old.sock.once('close', res)));
    r = await exec({ args: ['echo', 'newest'] });
    assert.equal(r.out, 'newest\n');
  });

  it('a host leaving mid-frame of agent output does not desync the next one, and loses no byte', async () => {
    const ch = newChan();
    const total = 20000000;
    c.sinks.set(ch, () => {});
    c.sock.pause(); // the kernel buffers fill, so the shim holds a part-sent frame
    c.send(T.EXEC, ch, execPayload({ args: ['head', '-c', String(total), '/dev/zero'], id: 'desync-flood' }));
    await sleep(300);
    c.close();
    c = await Client.connect(sockPath);
    // A new host: RESET, then subscribe again; what the first host took but never acknowledged comes again.
    c.send(T.RESET, 0);
    const sub = newChan();
    let got = 0,
      from = -1;
    const done = new Promise((resolve, reject) => {
      const t = setTimeout(() => reject(new Error('no EXITED after reconnect')), 20000);
      c.sinks.set(sub, (f) => {
        if (f.type === T.SUBSCRIBED) from = Number(f.payload.readBigUInt64BE(4));
        if (f.type === T.STDOUT) got += f.payload.length;
        if (f.type === T.EXITED) {
          clearTimeout(t);
          resolve(f.payload.readInt32BE(0));
        }
      });
    });
    c.send(T.SUBSCRIBE, sub, Buffer.concat([cstr('desync-flood'), u64s(0, 0)]));
    assert.equal(await done, 0);
    assert.equal(c.protocolError, null);
    assert.ok(from >= 0 && got > 0, `from ${from}, got ${got}`);
    assert.equal(from + got, total, 'the second host got exactly what the first did not acknowledge');
    const r = await exec({ args: ['echo', 'synced'] });
    assert.equal(r.out, 'synced\n');
  });

  it('a bad frame length makes the shim drop the host', async () => {
    c.sock.write(Buffer.from([0xff, 0xff, 0xff, 0xff, 0x01]));
    await new Promise((res) => (c.closed ? res() : c.sock.once('close', res)));
    c = await Client.connect(sockPath);
    const r = await exec({ args: ['echo', 'ok'] });
    assert.equal(r.out, 'ok\n');
  });

  it('delivers a 50 MB flood to a slow reader with bounded memory', async () => {
    const ch = newChan();
    const agentBase = rssKiB(agentPid),
      shimBase = rssKiB(shim.pid);
    let got = 0,
      frames = 0;
    const done = new Promise((resolve, reject) =>
      c.sinks.set(ch, (f) => {
        if (f.type === T.STDOUT) {
          assert.ok(f.payload.length <= 32768);
          got += f.payload.length;
          if (++frames === 10) {
            c.sock.pause(); // slow reader: nothing is read for a while
            setTimeout(() => {
              try {
                // Growth over the idle baseline (the sanitized build has a larger base): an
                // unbounded path would have taken tens of MiB of the 50 MB by now.
                assert.ok(rssKiB(agentPid) - agentBase < 4 * 1024, `agent RSS ${rssKiB(agentPid)} KiB (idle ${agentBase})`);
                assert.ok(rssKiB(shim.pid) - shimBase < 8 * 1024, `shim RSS ${rssKiB(shim.pid)} KiB (idle ${shimBase})`);
              } catch (e) {
                reject(e);
              }
              c.sock.resume();
            }, 1500);
          }
        } else if (f.type === T.EXITED) {
          resolve(f.payload.readInt32BE(0));
        } else if (f.type !== T.STARTED) {
          reject(new Error(`unexpected 0x${f.type.toString(16)}`));
        }
      }),
    );
    c.send(T.EXEC, ch, execPayload({ args: ['head', '-c', '50000000', '/dev/zero'] }));
    assert.equal(await done, 0);
    assert.equal(got, 50000000);
  });

  it('without an ACK only that process stalls; an ACK lets it go on', async () => {
    const ch = newChan();
    c.withheld.add(ch);
    let got = 0;
    let exited = false;
    c.sinks.set(ch, (f) => {
      if (f.type === T.STDOUT) got += f.payload.length;
      if (f.type === T.EXITED) exited = true;
    });
    c.send(T.EXEC, ch, execPayload({ args: ['head', '-c', '3000000', '/dev/zero'] }));
    await sleep(500);
    assert.ok(got > 0 && got <= 256 * 1024, `${got} bytes arrived without credit beyond the initial window`);
    assert.equal(exited, false);
    const other = await exec({ args: ['echo', 'not blocked'] });
    assert.equal(other.out, 'not blocked\n', 'another process runs while the first one waits for credit');
    c.withheld.delete(ch);
    c.send(T.ACK, ch, u64s(got, 0));
    for (let i = 0; i < 100 && !exited; i++) await sleep(50);
    assert.equal(exited, true);
    assert.equal(got, 3000000);
  });

  it('SIGTERM to the shim: the agent and everything it started are gone', async () => {
    const ch = newChan();
    c.send(T.EXEC, ch, execPayload({ args: ['sleep', '1000'] }));
    const st = await c.next(ch);
    assert.equal(st.type, T.STARTED);
    const sleeper = st.payload.readUInt32BE(0);
    assert.ok(alive(sleeper));
    // SIGTERM/SIGINT/SIGHUP do not harm the agent.
    for (const sig of ['SIGTERM', 'SIGINT', 'SIGHUP']) process.kill(agentPid, sig);
    const r = await exec({ args: ['echo', 'alive'] });
    assert.equal(r.out, 'alive\n');

    process.kill(shim.pid, 'SIGTERM');
    assert.ok(await waitGone(shim.pid), 'shim still running');
    assert.ok(await waitGone(agentPid), 'agent still running');
    assert.ok(await waitGone(sleeper), 'sleep 1000 still running');
    assert.ok(!fs.existsSync(sockPath), 'socket left behind');
  });
});
