// Shared by the native tests: a PROTOCOL.md frame codec, a validating host
// connection over the shim socket, and a launcher that starts the test build
// of the shim and agent (ASan + UBSan, see ../native/Makefile) without
// containers. Needs `make -C packages/agent/native` first; builds nothing itself.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import net from 'node:net';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
export const AGENT = path.resolve(here, '../build/test/airlock-agent');
export const SHIM = path.resolve(here, '../build/test/airlock-shim');

export const T = {
  EXEC: 0x01,
  STDIN: 0x02,
  STDIN_CLOSE: 0x03,
  SIGNAL: 0x04,
  PING: 0x05,
  CREDIT: 0x06,
  RESET: 0x07,
  SUBSCRIBE: 0x08,
  ACK: 0x09,
  RESIZE: 0x0a,
  PROC_LIST: 0x0b,
  FORGET: 0x0c,
  FILE_WRITE: 0x10,
  FILE_DATA: 0x11,
  FILE_END: 0x12,
  FILE_READ: 0x13,
  LIST_DIR: 0x14,
  CANCEL: 0x15,
  STAT: 0x16,
  MKDIR: 0x17,
  REMOVE: 0x18,
  RENAME: 0x19,
  CHMOD: 0x1a,
  SYMLINK: 0x1b,
  WATCH: 0x1c,
  HELLO: 0x80,
  STARTED: 0x81,
  STDOUT: 0x82,
  STDERR: 0x83,
  EXITED: 0x84,
  ERROR: 0x85,
  OK: 0x86,
  RFILE_DATA: 0x87,
  RFILE_END: 0x88,
  DIR_ENTRIES: 0x89,
  DIR_END: 0x8a,
  PONG: 0x8b,
  OOM: 0x8c,
  SUBSCRIBED: 0x8d,
  PROC_INFO: 0x8e,
  PROC_END: 0x8f,
  STAT_RESULT: 0x90,
  WATCH_EVENTS: 0x91,
  STDIN_ACK: 0x92,
};
export const AGENT_TYPES = new Set(Object.values(T).filter((t) => t >= 0x80));
export const MAX_LEN = 5 + 1024 * 1024;
export const ENOENT = 2,
  EINVAL = 22,
  ECANCELED = 125;
export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// ---- frame codec ----

export const u64s = (...ns) => {
  const b = Buffer.alloc(8 * ns.length);
  ns.forEach((n, i) => b.writeBigUInt64BE(BigInt(n), 8 * i));
  return b;
};
export const u32 = (n) => {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n >>> 0);
  return b;
};
export const cstr = (s) => Buffer.concat([Buffer.from(s), Buffer.alloc(1)]);

export function encode(type, chan, payload = Buffer.alloc(0)) {
  const b = Buffer.alloc(9 + payload.length);
  b.writeUInt32BE(5 + payload.length, 0);
  b[4] = type;
  b.writeUInt32BE(chan, 5);
  payload.copy(b, 9);
  return b;
}

export function execPayload({ args, env = {}, cwd = '', user = '', stdin = false, pty, id, tag = '', ring = 0 }) {
  const envs = Object.entries(env).map(([k, v]) => `${k}=${v}`);
  return Buffer.concat([
    u32((stdin ? 1 : 0) | (pty ? 2 : 0)),
    cstr(user),
    cstr(cwd),
    u32(args.length),
    ...args.map(cstr),
    u32(envs.length),
    ...envs.map(cstr),
    ...(id === undefined ? [] : [cstr(id), cstr(tag), u32(ring), u32(pty?.cols ?? 80), u32(pty?.rows ?? 24)]),
  ]);
}

// PROC_INFO: the registry's view of one process.
export function parseInfo(p) {
  const strs = p.subarray(69).toString().split('\0');
  return {
    pid: p.readUInt32BE(0),
    flags: p.readUInt32BE(4),
    state: ['starting', 'running', 'exited'][p[8]],
    code: p.readInt32BE(9),
    signo: p.readUInt32BE(13),
    started: Number(p.readBigInt64BE(17)),
    ended: Number(p.readBigInt64BE(25)),
    outHead: Number(p.readBigUInt64BE(33)),
    outAcked: Number(p.readBigUInt64BE(41)),
    errHead: Number(p.readBigUInt64BE(49)),
    errAcked: Number(p.readBigUInt64BE(57)),
    cols: p.readUInt16BE(65),
    rows: p.readUInt16BE(67),
    id: strs[0],
    tag: strs[1],
    cmd: strs[2],
  };
}

export const errOf = (f) => ({ errno: f.payload.readUInt32BE(0), message: f.payload.subarray(4, -1).toString() });

export function parseEntries(p) {
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
export class Client {
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
    this.offsets = new Map();
    this.stdinTaken = new Map();
    this.stdinWaiters = [];
    sock.on('data', (d) => this.onData(d));
    sock.on('close', () => {
      this.closed = true;
      for (const w of this.waiters.values()) w();
    });
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
      // Process output is acknowledged by absolute offset per stream (ACK), file reads by CREDIT.
      if (f.type === T.SUBSCRIBED) this.offsets.set(f.chan, [f.payload.readBigUInt64BE(4), f.payload.readBigUInt64BE(12)]);
      if (f.type === T.STDOUT || f.type === T.STDERR) {
        const o = this.offsets.get(f.chan) ?? [0n, 0n];
        o[f.type === T.STDOUT ? 0 : 1] += BigInt(f.payload.length);
        this.offsets.set(f.chan, o);
        if (!this.withheld.has(f.chan)) this.send(T.ACK, f.chan, u64s(o[0], o[1]));
      }
      if (f.type === T.RFILE_DATA && !this.withheld.has(f.chan)) this.send(T.CREDIT, f.chan, u32(f.payload.length));
      // Stdin taken by a process: counted per channel (a host sends at most 256 KiB beyond it).
      if (f.type === T.STDIN_ACK) {
        this.stdinTaken.set(f.chan, (this.stdinTaken.get(f.chan) ?? 0) + f.payload.readUInt32BE(0));
        for (const w of this.stdinWaiters.splice(0)) w();
        continue;
      }
      const sink = this.sinks.get(f.chan);
      if (sink) {
        sink(f);
        continue;
      }
      if (!this.queues.has(f.chan)) this.queues.set(f.chan, []);
      this.queues.get(f.chan).push(f);
      const w = this.waiters.get(f.chan);
      if (w) {
        this.waiters.delete(f.chan);
        w();
      }
    }
  }

  send(type, chan, payload) {
    this.sock.write(encode(type, chan, payload));
  }

  // Stdin under the agent's window, as the server sends it.
  async sendStdin(chan, data, window = 256 * 1024) {
    for (let off = 0; off < data.length; off += 65536) {
      const part = data.subarray(off, off + 65536);
      while (off + part.length - (this.stdinTaken.get(chan) ?? 0) > window) {
        if (this.closed) throw new Error('connection closed');
        await new Promise((r) => this.stdinWaiters.push(r));
      }
      this.send(T.STDIN, chan, part);
    }
  }

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
        this.waiters.set(chan, () => {
          clearTimeout(t);
          r();
        });
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
        case T.STARTED:
          res.pid = f.payload.readUInt32BE(0);
          break;
        case T.STDOUT:
          res.stdout.push(f.payload);
          break;
        case T.STDERR:
          res.stderr.push(f.payload);
          break;
        case T.RFILE_DATA:
          assert.ok(f.payload.length <= 32768);
          res.data.push(f.payload);
          break;
        case T.DIR_ENTRIES:
          assert.ok(f.payload.length <= 32768);
          res.entries.push(...parseEntries(f.payload));
          break;
        case T.EXITED:
          res.code = f.payload.readInt32BE(0);
          res.signo = f.payload.readUInt32BE(4);
          return fin(res);
        case T.ERROR:
          res.error = errOf(f);
          return fin(res);
        case T.OK:
          res.bytes = Number(f.payload.readBigUInt64BE(0));
          return fin(res);
        case T.RFILE_END:
        case T.DIR_END:
        case T.PROC_END:
          return fin(res);
        case T.SUBSCRIBED:
          res.pid = f.payload.readUInt32BE(0);
          res.from = [Number(f.payload.readBigUInt64BE(4)), Number(f.payload.readBigUInt64BE(12))];
          res.gaps = f.payload.readUInt32BE(20);
          break;
        case T.PROC_INFO:
          (res.procs ??= []).push(parseInfo(f.payload));
          break;
        case T.STAT_RESULT:
          res.stat = {
            kind: String.fromCharCode(f.payload[0]),
            mode: f.payload.readUInt32BE(1),
            size: Number(f.payload.readBigUInt64BE(5)),
            target: f.payload.subarray(29, -1).toString(),
          };
          return fin(res);
        default:
          throw new Error(`unexpected frame 0x${f.type.toString(16)} on channel ${chan}`);
      }
    }
    function fin(r) {
      r.out = Buffer.concat(r.stdout).toString();
      r.err = Buffer.concat(r.stderr).toString();
      r.content = Buffer.concat(r.data);
      return r;
    }
  }

  close() {
    this.sock.destroy();
  }
}

// ---- process helpers (only ever pids this test started or was told) ----

export function procState(pid) {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  } catch {
    return null;
  }
}
export const alive = (pid) => {
  const s = procState(pid);
  return !!s && s[0] !== 'Z';
};
export const rssKiB = (pid) => Number(/VmRSS:\s+(\d+)/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'))[1]);

export async function waitGone(pid, ms = 5000) {
  const end = Date.now() + ms;
  while (alive(pid) && Date.now() < end) await sleep(20);
  return !alive(pid);
}

// ---- starting a pair ----

/**
 * Starts the shim with the agent behind a launcher that exits at once, leaving
 * the agent on the shim's pipes in its own session (fd 3 carries stdin past
 * sh's /dev/null for background jobs). `wrap` prefixes the agent's command
 * (e.g. `unshare -m ...`), `env` adds to its environment. Sanitizer reports go
 * to files in `dir`; sanitizerReports() returns what they hold.
 */
export async function startPair(dir, { wrap = '', env = {} } = {}) {
  for (const f of [AGENT, SHIM]) assert.ok(fs.existsSync(f), `${f} missing: run make -C packages/agent/native`);
  const sockPath = path.join(dir, 's.sock');
  const launcher = `exec 3<&0; ${wrap} setsid "$0" <&3 3<&- 2>>"$1/agent.stderr" &`;
  const shim = spawn(SHIM, ['--socket', sockPath, '--', 'sh', '-c', launcher, AGENT, dir], {
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: {
      ...process.env,
      ASAN_OPTIONS: `log_path=${dir}/asan:abort_on_error=1`,
      UBSAN_OPTIONS: `log_path=${dir}/ubsan:print_stacktrace=1:halt_on_error=1`,
      ...env,
    },
  });
  let report = '';
  shim.stdout.on('data', (d) => {
    report += d;
  });
  await new Promise((resolve) => shim.stdout.on('end', resolve));
  assert.equal(report, 'ok\n');
  assert.equal(fs.statSync(sockPath).mode & 0o777, 0o600);
  return { shim, sockPath, client: await Client.connect(sockPath) };
}

/** Everything ASan/UBSan wrote in `dir` (empty when the run was clean). */
export function sanitizerReports(dir) {
  return fs
    .readdirSync(dir)
    .filter((n) => /^(asan|ubsan)\./.test(n) || n === 'agent.stderr')
    .map((n) => fs.readFileSync(path.join(dir, n), 'utf8'))
    .filter((text) => /Sanitizer|runtime error/.test(text));
}
