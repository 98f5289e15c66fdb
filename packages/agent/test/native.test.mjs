// End-to-end test of Airlock's native pair, without containers: the shim
// starts the agent through a launcher that leaves it running detached on the
// shim's pipes, and the test speaks PROTOCOL.md frames over the shim socket.
// Needs `make -C packages/agent/native` first; builds nothing itself.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import net from 'node:net';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import crypto from 'node:crypto';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const AGENT = path.resolve(here, '../build/airlock-agent');
const SHIM = path.resolve(here, '../build/airlock-shim');

const T = {
  EXEC: 0x01, STDIN: 0x02, STDIN_CLOSE: 0x03, SIGNAL: 0x04, PING: 0x05, CREDIT: 0x06,
  FILE_WRITE: 0x10, FILE_DATA: 0x11, FILE_END: 0x12, FILE_READ: 0x13, LIST_DIR: 0x14, CANCEL: 0x15,
  HELLO: 0x80, STARTED: 0x81, STDOUT: 0x82, STDERR: 0x83, EXITED: 0x84, ERROR: 0x85, OK: 0x86,
  RFILE_DATA: 0x87, RFILE_END: 0x88, DIR_ENTRIES: 0x89, DIR_END: 0x8a, PONG: 0x8b,
};
const AGENT_TYPES = new Set([0x80, 0x81, 0x82, 0x83, 0x84, 0x85, 0x86, 0x87, 0x88, 0x89, 0x8a, 0x8b]);
const MAX_LEN = 5 + 1024 * 1024;
const ENOENT = 2, EINVAL = 22, ECANCELED = 125;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// ---- frame codec ----

const u32 = (n) => { const b = Buffer.alloc(4); b.writeUInt32BE(n >>> 0); return b; };
const cstr = (s) => Buffer.concat([Buffer.from(s), Buffer.alloc(1)]);

function encode(type, chan, payload = Buffer.alloc(0)) {
  const b = Buffer.alloc(9 + payload.length);
  b.writeUInt32BE(5 + payload.length, 0);
  b[4] = type;
  b.writeUInt32BE(chan, 5);
  payload.copy(b, 9);
  return b;
}

function execPayload({ args, env = {}, cwd = '', user = '', stdin = false }) {
  const envs = Object.entries(env).map(([k, v]) => `${k}=${v}`);
  return Buffer.concat([
    u32(stdin ? 1 : 0), cstr(user), cstr(cwd),
    u32(args.length), ...args.map(cstr),
    u32(envs.length), ...envs.map(cstr),
  ]);
}

const errOf = (f) => ({ errno: f.payload.readUInt32BE(0), message: f.payload.subarray(4, -1).toString() });

function parseEntries(p) {
  const out = [];
  for (let i = 0; i < p.length;) {
    const kind = String.fromCharCode(p[i]);
    const mode = p.readUInt32BE(i + 1);
    const size = Number(p.readBigUInt64BE(i + 5));
    const mtime = Number(p.readBigInt64BE(i + 13));
    const end = p.indexOf(0, i + 21);
    out.push({ kind, mode, size, mtime, name: p.subarray(i + 21, end).toString() });
    i = end + 1;
  }
  return out;
}

// A host connection: validates every frame like the server must, and
// queues frames per channel (or hands them to a per-channel sink).
class Client {
  static connect(sockPath) {
    return new Promise((resolve, reject) => {
      const s = net.connect(sockPath, () => resolve(new Client(s)));
      s.once('error', reject);
    });
  }

  constructor(sock) {
    this.sock = sock;
    this.buf = Buffer.alloc(0);
    this.queues = new Map();
    this.waiters = new Map();
    this.sinks = new Map();
    this.closed = false;
    this.protocolError = null;
    // Like the server, grant flow-control credit for output as it is taken in, unless a test
    // holds credit back for a channel to see that only that operation stalls.
    this.withheld = new Set();
    sock.on('data', (d) => this.onData(d));
    sock.on('close', () => { this.closed = true; for (const w of this.waiters.values()) w(); });
    sock.on('error', () => {});
  }

  onData(d) {
    this.buf = this.buf.length ? Buffer.concat([this.buf, d]) : d;
    while (this.buf.length >= 4) {
      const len = this.buf.readUInt32BE(0);
      if (len < 5 || len > MAX_LEN || (this.buf.length >= 5 && !AGENT_TYPES.has(this.buf[4]))) {
        this.protocolError = `bad frame: len ${len} type ${this.buf[4]}`;
        this.sock.destroy();
        return;
      }
      if (this.buf.length < 4 + len) break;
      const f = { type: this.buf[4], chan: this.buf.readUInt32BE(5), payload: Buffer.from(this.buf.subarray(9, 4 + len)) };
      this.buf = this.buf.subarray(4 + len);
      if ((f.type === T.STDOUT || f.type === T.STDERR || f.type === T.RFILE_DATA) && !this.withheld.has(f.chan)) {
        this.send(T.CREDIT, f.chan, u32(f.payload.length));
      }
      const sink = this.sinks.get(f.chan);
      if (sink) { sink(f); continue; }
      if (!this.queues.has(f.chan)) this.queues.set(f.chan, []);
      this.queues.get(f.chan).push(f);
      const w = this.waiters.get(f.chan);
      if (w) { this.waiters.delete(f.chan); w(); }
    }
  }

  send(type, chan, payload) { this.sock.write(encode(type, chan, payload)); }

  async next(chan, ms = 10000) {
    const deadline = Date.now() + ms;
    for (;;) {
      const q = this.queues.get(chan);
      if (q && q.length) return q.shift();
      if (this.protocolError) throw new Error(this.protocolError);
      if (this.closed) throw new Error('connection closed');
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`timeout waiting on channel ${chan}`);
      await new Promise((r) => {
        const t = setTimeout(r, left);
        this.waiters.set(chan, () => { clearTimeout(t); r(); });
      });
    }
  }

  // Collects an operation until its final frame (EXITED, ERROR, OK, *_END).
  async collect(chan, ms = 10000) {
    const res = { frames: [], stdout: [], stderr: [], data: [], entries: [] };
    for (;;) {
      const f = await this.next(chan, ms);
      res.frames.push(f.type);
      switch (f.type) {
        case T.STARTED: res.pid = f.payload.readUInt32BE(0); break;
        case T.STDOUT: res.stdout.push(f.payload); break;
        case T.STDERR: res.stderr.push(f.payload); break;
        case T.RFILE_DATA: assert.ok(f.payload.length <= 32768); res.data.push(f.payload); break;
        case T.DIR_ENTRIES: assert.ok(f.payload.length <= 32768); res.entries.push(...parseEntries(f.payload)); break;
        case T.EXITED: res.code = f.payload.readInt32BE(0); res.signo = f.payload.readUInt32BE(4); return fin(res);
        case T.ERROR: res.error = errOf(f); return fin(res);
        case T.OK: res.bytes = Number(f.payload.readBigUInt64BE(0)); return fin(res);
        case T.RFILE_END: case T.DIR_END: return fin(res);
        default: throw new Error(`unexpected frame 0x${f.type.toString(16)} on channel ${chan}`);
      }
    }
    function fin(r) {
      r.out = Buffer.concat(r.stdout).toString();
      r.err = Buffer.concat(r.stderr).toString();
      r.content = Buffer.concat(r.data);
      return r;
    }
  }

  close() { this.sock.destroy(); }
}

// ---- process helpers (only ever pids this test started or was told) ----

function procState(pid) {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  } catch { return null; }
}
const alive = (pid) => { const s = procState(pid); return !!s && s[0] !== 'Z'; };
const rssKiB = (pid) => Number(/VmRSS:\s+(\d+)/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'))[1]);

async function waitGone(pid, ms = 5000) {
  const end = Date.now() + ms;
  while (alive(pid) && Date.now() < end) await sleep(20);
  return !alive(pid);
}

// ---- the suite ----

let chanSeq = 1;
const newChan = () => chanSeq++;

describe('airlock native agent + shim', { timeout: 10 * 60_000 }, () => {
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
    for (const f of [AGENT, SHIM]) assert.ok(fs.existsSync(f), `${f} missing: run make -C packages/agent/native`);
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'airlock-native-'));
    sockPath = path.join(dir, 's.sock');
    // The launcher exits at once, leaving the agent on the shim's pipes in its
    // own session (fd 3 carries stdin past sh's /dev/null for background jobs).
    const launcher = 'exec 3<&0; setsid "$0" <&3 3<&- 2>/dev/null &';
    shim = spawn(SHIM, ['--socket', sockPath, '--', 'sh', '-c', launcher, AGENT], {
      detached: true, stdio: ['ignore', 'pipe', 'pipe'],
    });
    let report = '';
    shim.stdout.on('data', (d) => { report += d; });
    await new Promise((resolve) => shim.stdout.on('end', resolve));
    assert.equal(report, 'ok\n');
    assert.equal(fs.statSync(sockPath).mode & 0o777, 0o600);
    c = await Client.connect(sockPath);
  });

  after(async () => {
    if (c) c.close();
    if (shim && alive(shim.pid)) process.kill(shim.pid, 'SIGKILL');
    if (agentPid && alive(agentPid)) process.kill(agentPid, 'SIGKILL');
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  it('a failing runtime is reported as error <status> with its stderr', async () => {
    const p = spawn(SHIM, ['--socket', path.join(dir, 'bad.sock'), '--', 'sh', '-c', 'echo boom >&2; exit 7'], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    p.stdout.on('data', (d) => { out += d; });
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
    assert.deepEqual(r.out.trim().split('\n').sort(), ['A=1', 'HOME=/root',
      'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', 'USER=root']);
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
    const r3 = await exec({ args: ['true'], cwd: '/no/such/dir' });
    assert.equal(r3.error.errno, ENOENT);
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
    const zombies = fs.readdirSync('/proc').filter((p) => /^\d+$/.test(p)).filter((p) => {
      const s = procState(p);
      return s && Number(s[1]) === agentPid && s[0] === 'Z';
    });
    assert.deepEqual(zombies, []);
  });

  it('runs execs concurrently', async () => {
    const t0 = Date.now();
    const rs = await Promise.all(Array.from({ length: 12 }, (_, i) =>
      exec({ args: ['sh', '-c', 'sleep 0.5; echo $0; echo e$0 >&2', String(i)] })));
    rs.forEach((r, i) => { assert.equal(r.out, `${i}\n`); assert.equal(r.err, `e${i}\n`); assert.equal(r.code, 0); });
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
    const target = path.join(dir, 'w', 'deep', 'file.bin');
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
    assert.equal(fs.statSync(path.join(dir, 'w')).uid, 1234);
    assert.equal(fs.statSync(path.join(dir, 'w', 'deep')).gid, 5678);
    assert.deepEqual(fs.readdirSync(path.join(dir, 'w', 'deep')), ['file.bin']);
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

  it('a host leaving mid-frame of agent output does not desync the next one', async () => {
    const ch = newChan();
    const total = 20000000;
    c.sinks.set(ch, () => {});
    c.sock.pause(); // the kernel buffers fill, so the shim holds a part-sent frame
    c.send(T.EXEC, ch, execPayload({ args: ['head', '-c', String(total), '/dev/zero'] }));
    await sleep(300);
    c.close();
    c = await Client.connect(sockPath);
    // Credit for what the first host took in but never acknowledged is lost with it; grant it again.
    c.send(T.CREDIT, ch, u32(0xffffffff));
    let got = 0;
    const done = new Promise((resolve, reject) => {
      const t = setTimeout(() => reject(new Error('no EXITED after reconnect')), 20000);
      c.sinks.set(ch, (f) => {
        if (f.type === T.STDOUT) got += f.payload.length;
        if (f.type === T.EXITED) { clearTimeout(t); resolve(f.payload.readInt32BE(0)); }
      });
    });
    assert.equal(await done, 0);
    assert.equal(c.protocolError, null);
    assert.ok(got > 0 && got < total, `got ${got}`);
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
    let got = 0, frames = 0;
    const done = new Promise((resolve, reject) => c.sinks.set(ch, (f) => {
      if (f.type === T.STDOUT) {
        assert.ok(f.payload.length <= 32768);
        got += f.payload.length;
        if (++frames === 10) {
          c.sock.pause(); // slow reader: nothing is read for a while
          setTimeout(() => {
            try {
              assert.ok(rssKiB(agentPid) < 8 * 1024, `agent RSS ${rssKiB(agentPid)} KiB`);
              assert.ok(rssKiB(shim.pid) < 16 * 1024, `shim RSS ${rssKiB(shim.pid)} KiB`);
            } catch (e) { reject(e); }
            c.sock.resume();
          }, 1500);
        }
      } else if (f.type === T.EXITED) {
        resolve(f.payload.readInt32BE(0));
      } else if (f.type !== T.STARTED) {
        reject(new Error(`unexpected 0x${f.type.toString(16)}`));
      }
    }));
    c.send(T.EXEC, ch, execPayload({ args: ['head', '-c', '50000000', '/dev/zero'] }));
    assert.equal(await done, 0);
    assert.equal(got, 50000000);
  });

  it('without credit only that process stalls; a CREDIT frame lets it go on', async () => {
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
    c.send(T.CREDIT, ch, u32(0xffffffff));
    for (let i = 0; i < 100 && !exited; i++) await sleep(50);
    assert.equal(exited, true);
    assert.equal(got, 3000000);
    c.withheld.delete(ch);
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
