// The agent against a hostile sandbox, without containers (the sanitized test
// build, see native-pair.mjs): a child stopped in the window between setuid and
// execve, file operations as a user through planted symlinks and magic links,
// FIFOs, devices and /proc/PID/mem, and an image without a passwd entry for root.
// Each attack is judged by what reached the disk or the host, next to a positive
// control that shows the same step succeeds where it may.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import crypto from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { T, EINVAL, u32, cstr, execPayload, procState, sleep, startPair, sanitizerReports } from './native-pair.mjs';

const EACCES = 13,
  EPERM = 1,
  EISDIR = 21;
const NOBODY = 65534;

/** One agent behind its shim, with the helpers every suite below needs. */
async function agentIn(dir, opts) {
  const pair = await startPair(dir, opts);
  const c = pair.client;
  let seq = 1;
  const exec = (o) => {
    const ch = seq++;
    c.send(T.EXEC, ch, execPayload(o));
    return c.collect(ch);
  };
  const agentPid = Number((await exec({ args: ['sh', '-c', 'echo $PPID'] })).out.trim());
  return {
    ...pair,
    c,
    agentPid,
    chan: () => seq++,
    exec,
    read: (p, user) => {
      const ch = seq++;
      c.send(T.FILE_READ, ch, Buffer.concat([cstr(p), ...(user === undefined ? [] : [cstr(user)])]));
      return c.collect(ch);
    },
    list: (p, user) => {
      const ch = seq++;
      c.send(T.LIST_DIR, ch, Buffer.concat([cstr(p), ...(user === undefined ? [] : [cstr(user)])]));
      return c.collect(ch);
    },
    write: (p, data, { user = '', mode = 0o644, mkdir = false } = {}) => {
      const ch = seq++;
      c.send(T.FILE_WRITE, ch, Buffer.concat([u32(mode), u32(mkdir ? 1 : 0), cstr(p), cstr(user)]));
      c.send(T.FILE_DATA, ch, Buffer.from(data));
      c.send(T.FILE_END, ch);
      return c.collect(ch);
    },
    async ping() {
      const ch = seq++;
      c.send(T.PING, ch, Buffer.from('still-there'));
      const f = await c.next(ch, 5000);
      return f.type === T.PONG ? f.payload.toString() : `frame 0x${f.type.toString(16)}`;
    },
    async stop() {
      c.close();
      process.kill(pair.shim.pid, 'SIGTERM');
      for (let i = 0; i < 100 && procState(agentPid); i++) await sleep(20);
    },
  };
}

/** Children of `ppid` in stop state (T), found on the host. */
function stoppedChildren(ppid) {
  return fs
    .readdirSync('/proc')
    .filter((p) => /^\d+$/.test(p))
    .filter((p) => {
      const s = procState(p);
      return s && Number(s[1]) === ppid && s[0] === 'T';
    })
    .map(Number);
}

/** The agent's fd whose link on the host is `target`. */
function agentFdOf(agentPid, target) {
  for (const fd of fs.readdirSync(`/proc/${agentPid}/fd`)) {
    try {
      if (fs.readlinkSync(`/proc/${agentPid}/fd/${fd}`) === target) return Number(fd);
    } catch {
      /* closed meanwhile */
    }
  }
  return undefined;
}

/**
 * Registers before/after hooks that run one agent in a fresh directory for the
 * suite (`prepare` fills the directory first; `opts` may be a function of it)
 * and check the sanitizers after it.
 */
function useAgent(prefix, opts = {}, prepare = () => {}) {
  const ctx = {};
  before(async () => {
    ctx.dir = fs.mkdtempSync(path.join(os.tmpdir(), `airlock-${prefix}-`));
    prepare(ctx.dir);
    ctx.a = await agentIn(ctx.dir, typeof opts === 'function' ? opts(ctx.dir) : opts);
  });
  after(async () => {
    await ctx.a?.stop();
    const reports = sanitizerReports(ctx.dir);
    fs.rmSync(ctx.dir, { recursive: true, force: true });
    assert.deepEqual(reports, [], 'the sanitizers found nothing');
  });
  return ctx;
}

describe('agent: a child stopped before its exec', { timeout: 60_000 }, () => {
  const ctx = useAgent('hostile');

  it('leaves the agent answering PING, execs and file reads; the stopped exec goes on when continued', async () => {
    const ch = ctx.a.chan();
    ctx.a.c.send(T.EXEC, ch, execPayload({ args: ['echo', 'resumed'], user: 'nobody', env: { AIRLOCK_TEST_STOP_BEFORE_EXEC: '1' } }));
    let stopped = [];
    for (let i = 0; i < 250 && stopped.length === 0; i++) {
      await sleep(20);
      stopped = stoppedChildren(ctx.a.agentPid);
    }
    assert.equal(stopped.length, 1, 'positive control: the child is stopped in the window (state T)');
    assert.equal(fs.readFileSync(`/proc/${stopped[0]}/status`, 'utf8').match(/^Uid:\s+(\d+)/m)[1], String(NOBODY), 'after its setuid');

    assert.equal(await ctx.a.ping(), 'still-there');
    const other = await ctx.a.exec({ args: ['echo', 'other'] });
    assert.deepEqual([other.out, other.code], ['other\n', 0]);
    assert.equal((await ctx.a.read('/etc/hostname')).frames.at(-1), T.RFILE_END);
    assert.equal(ctx.a.c.queues.get(ch)?.length ?? 0, 0, 'nothing was sent for the stopped exec');

    process.kill(stopped[0], 'SIGCONT');
    const r = await ctx.a.c.collect(ch);
    assert.deepEqual([r.frames, r.out, r.code], [[T.STARTED, T.STDOUT, T.EXITED], 'resumed\n', 0]);
  });

  it('a stopped start can be killed through SIGNAL', async () => {
    const ch = ctx.a.chan();
    ctx.a.c.send(T.EXEC, ch, execPayload({ args: ['true'], user: 'nobody', env: { AIRLOCK_TEST_STOP_BEFORE_EXEC: '1' } }));
    let stopped = [];
    for (let i = 0; i < 250 && stopped.length === 0; i++) {
      await sleep(20);
      stopped = stoppedChildren(ctx.a.agentPid);
    }
    assert.equal(stopped.length, 1, 'positive control: stopped in the window');
    ctx.a.c.send(T.SIGNAL, ch, u32(9));
    const r = await ctx.a.c.collect(ch);
    assert.deepEqual([r.frames.at(-1), r.signo], [T.EXITED, 9]);
    assert.equal(await ctx.a.ping(), 'still-there');
  });
});

// /etc/passwd replaced in a mount namespace of the agent's own: empty, as in a scratch image, and a
// FIFO, which root inside could plant (reading it must neither block the agent nor fail root).
for (const [variant, source] of [
  ['empty', () => '/dev/null'],
  ['a FIFO', (dir) => path.join(dir, 'passwd-fifo')],
]) {
  describe(`agent: an image whose /etc/passwd is ${variant}`, { timeout: 60_000 }, () => {
    const ctx = useAgent(
      'nopasswd',
      (dir) => ({
        wrap: `unshare -m --propagation private sh -c 'mount --bind ${source(dir)} /etc/passwd && exec "$@"' -`,
      }),
      (dir) => {
        if (variant === 'a FIFO') execFileSync('mkfifo', [source(dir)]);
      },
    );

    it('runs root (named or default) as 0:0 and numeric ids as given; names still need an entry', async () => {
      const probe = ['sh', '-c', 'echo $(id -u):$(id -g) $HOME; test -s /etc/passwd || echo no-entries'];
      assert.equal((await ctx.a.exec({ args: probe })).out, '0:0 /root\nno-entries\n', 'positive control: no passwd entries');
      assert.equal((await ctx.a.exec({ args: probe, user: 'root' })).out, '0:0 /root\nno-entries\n');
      assert.equal((await ctx.a.exec({ args: ['sh', '-c', 'echo $(id -u):$(id -g)'], user: '1234' })).out, '1234:1234\n');
      assert.equal((await ctx.a.exec({ args: ['sh', '-c', 'echo $(id -u):$(id -g)'], user: '1234:5' })).out, '1234:5\n');
      const named = await ctx.a.exec({ args: ['true'], user: 'nobody' });
      assert.deepEqual([named.error.errno, named.error.message], [EINVAL, "unknown user 'nobody'"]);
      assert.equal(await ctx.a.ping(), 'still-there');
    });

    if (variant === 'a FIFO') {
      it('a FIFO planted over /dev/null later does not block an exec without stdin', async () => {
        execFileSync('nsenter', ['-t', String(ctx.a.agentPid), '-m', 'mount', '--bind', source(ctx.dir), '/dev/null']);
        assert.equal((await ctx.a.exec({ args: ['sh', '-c', 'test -p /dev/null && echo fifo'] })).out, 'fifo\n', 'positive control: /dev/null is a FIFO now');
        const r = await ctx.a.exec({ args: ['cat'] });
        assert.deepEqual([r.out, r.code], ['', 0], 'stdin is the /dev/null the agent opened at its start');
      });
    }
  });
}

// The same attacks against both resolvers: openat2 (Linux) and the component walk (gVisor).
for (const resolver of ['openat2', 'walk']) {
  describe(`agent: file operations as their user (${resolver})`, { timeout: 60_000 }, () => {
    const big = crypto.randomBytes(1 << 20); // larger than the initial credit: a read of it stays open
    let dir, pub, priv, sticky;
    const ctx = useAgent(`files-${resolver}`, { env: resolver === 'walk' ? { AIRLOCK_TEST_RESOLVE_WALK: '1' } : {} }, (d) => {
      dir = d;
      fs.chmodSync(dir, 0o755);
      fs.writeFileSync(path.join(dir, 'secret.txt'), 'top-secret', { mode: 0o600 });
      priv = path.join(dir, 'private');
      fs.mkdirSync(priv, { mode: 0o700 });
      fs.writeFileSync(path.join(priv, 'data.bin'), big, { mode: 0o644 });
      pub = path.join(dir, 'pub');
      fs.mkdirSync(pub);
      fs.chmodSync(pub, 0o777);
      fs.writeFileSync(path.join(pub, 'own.txt'), 'nobody-owns-this', { mode: 0o600 });
      fs.chownSync(path.join(pub, 'own.txt'), NOBODY, NOBODY);
      fs.symlinkSync('../secret.txt', path.join(pub, 'to-secret'));
      fs.symlinkSync('../private', path.join(pub, 'to-private'));
      sticky = path.join(dir, 'sticky');
      fs.mkdirSync(sticky);
      fs.chmodSync(sticky, 0o1777);
      fs.writeFileSync(path.join(sticky, 'victim'), 'victim', { mode: 0o644 });
    });

    it('reads through a symlink only what the user could read by its target', async () => {
      const control = await ctx.a.read(path.join(pub, 'to-secret'), 'root');
      assert.equal(control.content.toString(), 'top-secret', 'positive control: root follows the link');
      const own = await ctx.a.read(path.join(pub, 'own.txt'), 'nobody');
      assert.equal(own.content.toString(), 'nobody-owns-this', 'positive control: the user reads its own file');
      const r = await ctx.a.read(path.join(pub, 'to-secret'), 'nobody');
      assert.equal(r.error?.errno, EACCES);
      assert.equal(r.content.length, 0);
      const old = await ctx.a.read(path.join(pub, 'to-secret'));
      assert.equal(old.content.toString(), 'top-secret', 'a payload without a user (an older host) reads as root');
    });

    it('never follows a magic link to an fd of the agent', async () => {
      // A root read of a file the user cannot reach (its directory is 0700) stays open without credit...
      const held = ctx.a.chan();
      ctx.a.c.withheld.add(held);
      ctx.a.c.sinks.set(held, () => {});
      ctx.a.c.send(T.FILE_READ, held, cstr(path.join(priv, 'data.bin')));
      let fd;
      for (let i = 0; i < 100 && fd === undefined; i++) {
        await sleep(20);
        fd = agentFdOf(ctx.a.agentPid, path.join(priv, 'data.bin'));
      }
      assert.ok(fd !== undefined, 'the agent holds the file open');
      // ...and the same magic link, followed on the host, does lead to it: the positive control.
      assert.ok(fs.readFileSync(`/proc/${ctx.a.agentPid}/fd/${fd}`).equals(big));
      fs.symlinkSync(`/proc/self/fd/${fd}`, path.join(pub, 'magic-self'));
      fs.symlinkSync(`/proc/${ctx.a.agentPid}/fd/${fd}`, path.join(pub, 'magic-pid'));
      for (const name of ['magic-self', 'magic-pid']) {
        const r = await ctx.a.read(path.join(pub, name), 'nobody');
        assert.ok(r.error, `${name}: refused (${JSON.stringify(r.error)})`);
        assert.equal(r.content.length, 0, `${name}: no byte of the file`);
      }
      ctx.a.c.send(T.CANCEL, held);
    });

    it('never writes through a magic link to a directory fd of the agent', async () => {
      // vault/open is writable by anyone, but the user cannot reach it: vault is 0700.
      const vault = path.join(dir, 'vault'),
        open = path.join(vault, 'open');
      fs.mkdirSync(open, { recursive: true });
      fs.chmodSync(vault, 0o700);
      fs.chmodSync(open, 0o777);
      // A root write into it holds that directory open until FILE_END.
      const pending = ctx.a.chan();
      ctx.a.c.send(T.FILE_WRITE, pending, Buffer.concat([u32(0o644), u32(0), cstr(path.join(open, 'pending.txt')), cstr('')]));
      let fd;
      for (let i = 0; i < 100 && fd === undefined; i++) {
        await sleep(20);
        fd = agentFdOf(ctx.a.agentPid, open);
      }
      assert.ok(fd !== undefined, 'positive control: the agent holds the directory open');
      fs.symlinkSync(`/proc/self/fd/${fd}`, path.join(pub, 'magic-dir'));
      const w = await ctx.a.write(path.join(pub, 'magic-dir', 'evil'), 'x', { user: 'nobody' });
      assert.ok(w.error, JSON.stringify(w));
      ctx.a.c.send(T.CANCEL, pending);
      await ctx.a.c.collect(pending);
      assert.deepEqual(fs.readdirSync(open), [], 'nothing was created in the unreachable directory');
    });

    it('lists and writes through a symlinked parent only with the rights of the user', async () => {
      const control = await ctx.a.list(path.join(pub, 'to-private'), 'root');
      assert.deepEqual(
        control.entries.map((e) => e.name),
        ['data.bin'],
        'positive control: root lists it',
      );
      const l = await ctx.a.list(path.join(pub, 'to-private'), 'nobody');
      assert.deepEqual([l.error?.errno, l.entries.length], [EACCES, 0]);

      const w = await ctx.a.write(path.join(pub, 'to-private', 'evil'), 'evil', { user: 'nobody' });
      assert.equal(w.error?.errno, EACCES);
      const deep = await ctx.a.write(path.join(pub, 'to-private', 'a', 'b', 'evil'), 'evil', { user: 'nobody', mkdir: true });
      assert.equal(deep.error?.errno, EACCES);
      assert.deepEqual(fs.readdirSync(priv), ['data.bin'], 'no file and no directory appeared');
      const rw = await ctx.a.write(path.join(pub, 'to-private', 'by-root'), 'ok', { user: 'root' });
      assert.equal(rw.error, undefined, 'positive control: root writes there');
      assert.equal(fs.statSync(path.join(priv, 'by-root')).uid, 0);
      fs.rmSync(path.join(priv, 'by-root'));
    });

    it('creates as the user: its own ids and set-id bits only on its own files; no replacing in a sticky dir', async () => {
      const w = await ctx.a.write(path.join(pub, 'made', 'by', 'nobody'), 'x', { user: 'nobody', mode: 0o6755, mkdir: true });
      assert.equal(w.error, undefined, JSON.stringify(w.error));
      for (const p of ['made', 'made/by', 'made/by/nobody']) {
        const st = fs.statSync(path.join(pub, p));
        assert.deepEqual([st.uid, st.gid], [NOBODY, NOBODY], `${p} belongs to the user`);
      }
      assert.equal(fs.statSync(path.join(pub, 'made/by/nobody')).mode & 0o7777, 0o6755, 'set-id bits of its own ids');
      const victim = path.join(sticky, 'victim');
      const s = await ctx.a.write(victim, 'replaced', { user: 'nobody' });
      assert.equal(s.error?.errno, EPERM, JSON.stringify(s.error));
      assert.equal(fs.readFileSync(victim, 'utf8'), 'victim');
      assert.deepEqual(fs.readdirSync(sticky), ['victim'], 'the temp file is gone too');
      const control = await ctx.a.write(victim, 'replaced', { user: 'root' });
      assert.equal(control.error, undefined, 'positive control: root may replace it');
      assert.equal(fs.readFileSync(victim, 'utf8'), 'replaced');
    });

    it('refuses FIFOs, devices, directories and /proc/PID/mem without hanging', async () => {
      const fifo = path.join(pub, 'fifo');
      await ctx.a.exec({ args: ['mkfifo', fifo] });
      for (const [p, user, errno] of [
        [fifo, 'root', EINVAL],
        [fifo, 'nobody', EINVAL],
        ['/dev/null', 'root', EINVAL],
        ['/dev/zero', 'nobody', EINVAL],
        [pub, 'root', EISDIR],
      ]) {
        const r = await ctx.a.read(p, user);
        assert.equal(r.error?.errno, errno, `${p} as ${user}: ${JSON.stringify(r.error)}`);
      }
      const mem = await ctx.a.read(`/proc/${ctx.a.agentPid}/mem`, 'root');
      assert.ok(mem.error && mem.content.length === 0, `/proc/PID/mem ends with an error: ${JSON.stringify(mem.error)}`);
      assert.equal(await ctx.a.ping(), 'still-there');
    });
  });
}
