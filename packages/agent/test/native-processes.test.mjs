// The agent's process registry, PTYs and the file operations beyond read/write/list, against the
// sanitized test build behind its shim (native-pair.mjs): processes outlive their host (RESET) and
// lose no byte, a process nobody reads blocks, a PTY is a real terminal, and every file operation
// runs as its user.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { T, u32, u64s, cstr, execPayload, sleep, startPair, sanitizerReports, Client, alive, waitGone } from './native-pair.mjs';

const ENOENT = 2,
  EEXIST = 17,
  EBUSY = 16,
  EACCES = 13,
  ENOTEMPTY = 39;

describe('agent process registry, PTY, file operations and watch', { timeout: 120_000 }, () => {
  let dir,
    shim,
    sockPath,
    c,
    seq = 1;
  const chan = () => seq++;
  const op = (type, payload) => {
    const ch = chan();
    c.send(type, ch, payload);
    return c.collect(ch);
  };
  const list = async () => (await op(T.PROC_LIST, Buffer.alloc(0))).procs ?? [];
  const pathArgs = (...s) => Buffer.concat(s.map(cstr));

  before(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'airlock-native-proc-'));
    fs.chmodSync(dir, 0o755);
    ({ shim, sockPath, client: c } = await startPair(dir));
  });
  after(async () => {
    c?.close();
    if (shim && alive(shim.pid)) {
      process.kill(shim.pid, 'SIGTERM');
      await waitGone(shim.pid);
    }
    const reports = dir ? sanitizerReports(dir) : [];
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
    assert.deepEqual(reports, [], 'the sanitizers found nothing');
  });

  it('a process outlives its host: RESET, LIST, SUBSCRIBE replays every unacknowledged byte', async () => {
    const ch = chan();
    c.withheld.add(ch); // the first host acknowledges nothing
    c.send(
      T.EXEC,
      ch,
      execPayload({
        args: ['sh', '-c', 'i=0; while [ $i -lt 2000 ]; do echo line-$i; i=$((i+1)); done; read x; echo "got $x"; exit 7'],
        stdin: true,
        id: 'keeper',
        tag: 'dev',
      }),
    );
    assert.equal((await c.next(ch)).type, T.STARTED);
    await sleep(300);
    c.close();
    c = await Client.connect(sockPath);
    c.send(T.RESET, 0);
    const procs = await list();
    const p = procs.find((x) => x.id === 'keeper');
    assert.ok(p, 'still listed after the host left');
    assert.deepEqual([p.state, p.tag, p.outAcked], ['running', 'dev', 0]);
    assert.match(p.cmd, /^sh -c i=0/);
    const sub = chan();
    c.send(T.SUBSCRIBE, sub, Buffer.concat([cstr('keeper'), u64s(0, 0)]));
    const first = await c.next(sub);
    assert.equal(first.type, T.SUBSCRIBED);
    assert.equal(Number(first.payload.readBigUInt64BE(4)), 0);
    c.send(T.STDIN, sub, Buffer.from('yes\n'));
    const r = await c.collect(sub);
    const expected = Array.from({ length: 2000 }, (_, i) => `line-${i}\n`).join('') + 'got yes\n';
    assert.equal(r.out, expected, 'byte-exact across the host change');
    assert.equal(r.code, 7);
    const after = (await list()).find((x) => x.id === 'keeper');
    assert.equal(after.state, 'exited');
    assert.equal(after.code, 7);
    assert.ok(after.ended >= after.started);
  });

  it('a process nobody reads blocks once its ring is full, and goes on when subscribed', async () => {
    const ch = chan();
    // Nothing acknowledged, not even what arrives before the close: an ACK would free ring space.
    c.withheld.add(ch);
    c.send(T.EXEC, ch, execPayload({ args: ['sh', '-c', 'head -c 20000000 /dev/zero; echo done >&2'], id: 'blocked', ring: 65536 }));
    await c.next(ch);
    c.close(); // gone without acknowledging: nobody reads it now
    c = await Client.connect(sockPath);
    c.send(T.RESET, 0);
    let p;
    for (let i = 0; i < 200 && !(p?.outHead > 0); i++) {
      await sleep(50);
      p = (await list()).find((x) => x.id === 'blocked');
    }
    await sleep(300); // it would have written megabytes by now if it did not block
    p = (await list()).find((x) => x.id === 'blocked');
    assert.equal(p.state, 'running', 'it waits in write');
    assert.ok(p.outHead <= 65536 && p.outHead > 0, `it wrote ${p.outHead} bytes into a 64 KiB ring`);
    const sub = chan();
    c.send(T.SUBSCRIBE, sub, Buffer.concat([cstr('blocked'), u64s(0, 0)]));
    const r = await c.collect(sub, 30_000);
    assert.equal(Buffer.concat(r.stdout).length, 20000000);
    assert.equal(r.err, 'done\n');
  });

  it('stdin is flow-controlled (STDIN_ACK), so output ACKs never wait behind it: 4 MiB through cat, 64 KiB ring', async () => {
    const ch = chan();
    const data = Buffer.alloc(4 * 1024 * 1024, 'q');
    c.send(T.EXEC, ch, execPayload({ args: ['cat'], stdin: true, id: 'cat-big', ring: 65536 }));
    const collecting = c.collect(ch, 30_000);
    await c.sendStdin(ch, data);
    c.send(T.STDIN_CLOSE, ch);
    const r = await collecting;
    assert.equal(c.stdinTaken.get(ch), data.length, 'every byte of stdin was acknowledged');
    assert.equal(Buffer.concat(r.stdout).length, data.length);
    assert.equal(r.code, 0);
  });

  it('ids are unique; FORGET refuses a running process and removes an ended one', async () => {
    const ch = chan();
    c.send(T.EXEC, ch, execPayload({ args: ['sleep', '30'], id: 'dup' }));
    await c.next(ch);
    const again = await op(T.EXEC, execPayload({ args: ['true'], id: 'dup' }));
    assert.equal(again.error.errno, EEXIST);
    assert.equal((await op(T.FORGET, cstr('dup'))).error.errno, EBUSY);
    assert.equal((await op(T.SUBSCRIBE, Buffer.concat([cstr('dup'), u64s(0, 0)]))).error.errno, EBUSY, 'one subscriber at a time');
    c.send(T.SIGNAL, ch, u32(9));
    assert.equal((await c.collect(ch)).signo, 9);
    assert.equal((await op(T.FORGET, cstr('dup'))).bytes, 0);
    assert.ok(!(await list()).some((x) => x.id === 'dup'));
    assert.equal((await op(T.SUBSCRIBE, Buffer.concat([cstr('dup'), u64s(0, 0)]))).error.errno, ENOENT);
    assert.equal((await op(T.FORGET, cstr('dup'))).error.errno, ENOENT);
  });

  it('a subscription to an ended, delivered process answers SUBSCRIBED then EXITED, and flags a gap', async () => {
    await op(T.EXEC, execPayload({ args: ['sh', '-c', 'echo abc; exit 3'], id: 'ended' }));
    const r = await op(T.SUBSCRIBE, Buffer.concat([cstr('ended'), u64s(0, 0)]));
    assert.deepEqual(
      [r.frames, r.from, r.gaps, r.code],
      [[T.SUBSCRIBED, T.EXITED], [4, 0], 1, 3],
      'stdout was acknowledged (freed) before: a gap, from its end',
    );
    const r2 = await op(T.SUBSCRIBE, Buffer.concat([cstr('ended'), u64s(4, 0)]));
    assert.deepEqual([r2.from, r2.gaps], [[4, 0], 0], 'from what the host holds: no gap');
  });

  it('the process can reopen its own stdout, as the user it runs as', async () => {
    const r = await op(T.EXEC, execPayload({ args: ['sh', '-c', 'echo via-dev-stdout > /dev/stdout; echo e > /dev/stderr'], user: 'nobody' }));
    assert.deepEqual([r.out, r.err, r.code], ['via-dev-stdout\n', 'e\n', 0]);
  });

  it('a PTY: a terminal of the given size, resized, echoing input, exit code through', async () => {
    const ch = chan();
    c.send(T.EXEC, ch, execPayload({ args: ['sh'], pty: { cols: 100, rows: 30 }, env: { PS1: '$ ', TERM: 'dumb' }, id: 'tty1' }));
    assert.equal((await c.next(ch)).type, T.STARTED);
    let out = '';
    const seen = async (re) => {
      for (let i = 0; i < 200; i++) {
        const f = await c.next(ch, 10_000);
        if (f.type === T.STDOUT) out += f.payload.toString();
        assert.notEqual(f.type, T.STDERR, 'a terminal has one output stream');
        if (re.test(out)) return;
      }
      throw new Error(`never saw ${re} in ${JSON.stringify(out)}`);
    };
    c.send(T.STDIN, ch, Buffer.from('tty; stty size\n'));
    await seen(/\/dev\/pts\/\d+\r?\n30 100\r?\n/);
    c.send(T.RESIZE, ch, Buffer.concat([u32(132), u32(43)]));
    c.send(T.RESIZE, ch, Buffer.concat([u32(0), u32(0)])); // a hidden terminal: ignored
    out = '';
    c.send(T.STDIN, ch, Buffer.from('stty size\n'));
    await seen(/43 132\r?\n/);
    const info = (await list()).find((x) => x.id === 'tty1');
    assert.deepEqual([info.cols, info.rows, info.flags & 2], [132, 43, 2]);
    c.send(T.STDIN, ch, Buffer.from('exit 5\n'));
    const r = await c.collect(ch);
    assert.equal(r.code, 5);
  });

  it('a PTY drives an interactive Python REPL', async () => {
    const ch = chan();
    c.send(T.EXEC, ch, execPayload({ args: ['python3', '-q', '-i'], pty: { cols: 80, rows: 24 }, env: { TERM: 'dumb' }, id: 'repl' }));
    let out = '';
    // Typed at the prompt: readline's TCSAFLUSH drops what was typed ahead.
    while (!out.includes('>>> ')) {
      const f = await c.next(ch, 10_000);
      if (f.type === T.STDOUT) out += f.payload.toString();
    }
    c.send(T.STDIN, ch, Buffer.from('6*7\n'));
    for (;;) {
      const f = await c.next(ch, 10_000);
      if (f.type === T.STDOUT) out += f.payload.toString();
      if (/42\r?\n/.test(out)) break;
    }
    c.send(T.STDIN, ch, Buffer.from('\x04')); // ^D ends the REPL
    assert.equal((await c.collect(ch)).code, 0);
  });

  it('file operations as the user: stat, mkdir -p, chmod, rename, symlink, rm, rm -r, list with a depth', async () => {
    const base = path.join(dir, 'ops');
    fs.mkdirSync(base, { mode: 0o777 });
    fs.chmodSync(base, 0o777);
    const r1 = await op(T.MKDIR, Buffer.concat([u32(0o750), u32(1), pathArgs(`${base}/a/b/c`, 'nobody')]));
    assert.equal(r1.bytes, 0);
    assert.equal(fs.statSync(`${base}/a/b/c`).uid, 65534, 'made as the user');
    assert.equal(fs.statSync(`${base}/a/b/c`).mode & 0o777, 0o750);
    assert.equal((await op(T.MKDIR, Buffer.concat([u32(0o755), u32(1), pathArgs(`${base}/a/b/c`, 'nobody')]))).bytes, 0, '-p: an existing directory is fine');
    assert.equal((await op(T.MKDIR, Buffer.concat([u32(0o755), u32(0), pathArgs(`${base}/a/b/c`, 'nobody')]))).error.errno, EEXIST);
    fs.writeFileSync(`${base}/a/f.txt`, 'hello');
    const st = await op(T.STAT, Buffer.concat([u32(0), pathArgs(`${base}/a/f.txt`, '')]));
    assert.deepEqual([st.stat.kind, st.stat.size], ['f', 5]);
    assert.equal((await op(T.STAT, Buffer.concat([u32(0), pathArgs(`${base}/nope`, '')]))).error.errno, ENOENT);
    assert.equal((await op(T.SYMLINK, pathArgs('f.txt', `${base}/a/link`, ''))).bytes, 0);
    const ls = await op(T.STAT, Buffer.concat([u32(1), pathArgs(`${base}/a/link`, '')]));
    assert.deepEqual([ls.stat.kind, ls.stat.target], ['l', 'f.txt']);
    assert.equal((await op(T.STAT, Buffer.concat([u32(0), pathArgs(`${base}/a/link`, '')]))).stat.kind, 'f', 'followed unless asked not to');
    assert.equal((await op(T.CHMOD, Buffer.concat([u32(0o600), pathArgs(`${base}/a/f.txt`, '')]))).bytes, 0);
    assert.equal(fs.statSync(`${base}/a/f.txt`).mode & 0o777, 0o600);
    assert.equal((await op(T.CHMOD, Buffer.concat([u32(0o644), pathArgs(`${base}/a/f.txt`, 'nobody')]))).error.errno, 1, "not the user's file: EPERM");
    fs.writeFileSync(`${base}/a/g.txt`, 'g');
    assert.equal((await op(T.RENAME, Buffer.concat([u32(1), pathArgs(`${base}/a/f.txt`, `${base}/a/g.txt`, '')]))).error.errno, EEXIST, 'no-replace');
    assert.equal((await op(T.RENAME, Buffer.concat([u32(0), pathArgs(`${base}/a/f.txt`, `${base}/a/b/moved.txt`, '')]))).bytes, 0);
    assert.equal(fs.readFileSync(`${base}/a/b/moved.txt`, 'utf8'), 'hello');
    const deep = await op(T.LIST_DIR, Buffer.concat([pathArgs(`${base}/a`, ''), u32(3)]));
    assert.deepEqual(deep.entries.map((e) => e.name).sort(), ['b', 'b/c', 'b/moved.txt', 'g.txt', 'link']);
    const shallow = await op(T.LIST_DIR, Buffer.concat([pathArgs(`${base}/a`, ''), u32(1)]));
    assert.deepEqual(shallow.entries.map((e) => e.name).sort(), ['b', 'g.txt', 'link']);
    assert.equal((await op(T.REMOVE, Buffer.concat([u32(0), pathArgs(`${base}/a/b`, '')]))).error.errno, ENOTEMPTY);
    assert.equal((await op(T.REMOVE, Buffer.concat([u32(0), pathArgs(`${base}/a/link`, '')]))).bytes, 0);
    assert.ok(fs.existsSync(`${base}/a/g.txt`));
    // rm -r as a user who may not: root's directory and its file stay
    fs.mkdirSync(`${base}/a/b/rootdir`, { mode: 0o755 });
    fs.writeFileSync(`${base}/a/b/rootdir/kept`, 'k');
    assert.equal((await op(T.REMOVE, Buffer.concat([u32(1), pathArgs(`${base}/a/b`, 'nobody')]))).error.errno, EACCES);
    assert.ok(fs.existsSync(`${base}/a/b/rootdir/kept`), 'positive control below: the same removal as root');
    fs.symlinkSync('/etc', `${base}/a/b/rootdir/etc-link`);
    assert.equal((await op(T.REMOVE, Buffer.concat([u32(1), pathArgs(`${base}/a`, '')]))).bytes, 0);
    assert.ok(!fs.existsSync(`${base}/a`));
    assert.ok(fs.existsSync('/etc/passwd'), 'a symlink inside is removed, never followed');
    assert.equal((await op(T.REMOVE, Buffer.concat([u32(1), pathArgs(`${base}/a`, '')]))).error.errno, ENOENT);
  });

  it('watch: events for each operation, in order, with paths; recursive; overflow is said', async () => {
    const base = path.join(dir, 'watched');
    fs.mkdirSync(`${base}/sub`, { recursive: true });
    const ch = chan();
    c.send(T.WATCH, ch, Buffer.concat([u32(1), pathArgs(base, '')]));
    const ready = await c.next(ch);
    assert.deepEqual([ready.type, ready.payload.length], [T.WATCH_EVENTS, 0], 'an empty WATCH_EVENTS: the watch is in place');
    const events = [];
    const got = new Promise((resolve) =>
      c.sinks.set(ch, (f) => {
        assert.equal(f.type, T.WATCH_EVENTS);
        for (let i = 0; i < f.payload.length;) {
          const end = f.payload.indexOf(0, i + 5);
          events.push(`${String.fromCharCode(f.payload[i])}:${f.payload.subarray(i + 5, end)}`);
          i = end + 1;
        }
        if (events.includes('r:sub/new/deep.txt')) resolve();
      }),
    );
    fs.writeFileSync(`${base}/a.txt`, 'x');
    fs.chmodSync(`${base}/a.txt`, 0o600);
    fs.renameSync(`${base}/a.txt`, `${base}/sub/b.txt`);
    fs.unlinkSync(`${base}/sub/b.txt`);
    fs.mkdirSync(`${base}/sub/new`);
    await sleep(100); // the new directory is watched once its create event was read
    fs.writeFileSync(`${base}/sub/new/deep.txt`, 'y');
    fs.unlinkSync(`${base}/sub/new/deep.txt`);
    await got;
    assert.deepEqual(
      events.filter((e) => !e.startsWith('w:') || e === 'w:a.txt').filter((e, i, a) => a.indexOf(e) === i),
      ['c:a.txt', 'w:a.txt', 'a:a.txt', 'f:a.txt', 't:sub/b.txt', 'r:sub/b.txt', 'c:sub/new', 'c:sub/new/deep.txt', 'r:sub/new/deep.txt'],
    );
    c.sinks.delete(ch);
    c.send(T.CANCEL, ch);
    assert.equal((await c.collect(ch)).error.errno, 125);
    assert.equal((await op(T.WATCH, Buffer.concat([u32(0), pathArgs(`${base}/missing`, '')]))).error.errno, ENOENT);
    assert.equal((await op(T.WATCH, Buffer.concat([u32(0), pathArgs('/root', 'nobody')]))).error.errno, EACCES);
  });
});
