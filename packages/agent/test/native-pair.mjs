// Shared by the native tests: a PROTOCOL.md frame codec, a validating host
// connection over the shim socket, and a launcher that starts the test build
// of the shim and agent (ASan + UBSan, see ../native/Makefile) without
// containers. Needs `make -C packages/agent/native` first; builds nothing itself.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import net from 'node:net';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
export const AGENT = path.resolve(here, '../build/test/airlock-agent');
export const SHIM = path.resolve(here, '../build/test/airlock-shim');

export const T = {
  EXEC: 0x01, STDIN: 0x02, STDIN_CLOSE: 0x03, SIGNAL: 0x04, PING: 0x05, CREDIT: 0x06,
  FILE_WRITE: 0x10, FILE_DATA: 0x11, FILE_END: 0x12, FILE_READ: 0x13, LIST_DIR: 0x14, CANCEL: 0x15,
  HELLO: 0x80, STARTED: 0x81, STDOUT: 0x82, STDERR: 0x83, EXITED: 0x84, ERROR: 0x85, OK: 0x86,
  RFILE_DATA: 0x87, RFILE_END: 0x88, DIR_ENTRIES: 0x89, DIR_END: 0x8a, PONG: 0x8b,
};
export const AGENT_TYPES = new Set([0x80, 0x81, 0x82, 0x83, 0x84, 0x85, 0x86, 0x87, 0x88, 0x89, 0x8a, 0x8b]);
export const MAX_LEN = 5 + 1024 * 1024;
export const ENOENT = 2, EINVAL = 22, ECANCELED = 125;
export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// ---- frame codec ----

export const u32 = (n) => { const b = Buffer.alloc(4); b.writeUInt32BE(n >>> 0); return b; };
export const cstr = (s) => Buffer.concat([Buffer.from(s), Buffer.alloc(1)]);

export function encode(type, chan, payload = Buffer.alloc(0)) {
  const b = Buffer.alloc(9 + payload.length);
  b.writeUInt32BE(5 + payload.length, 0);
  b[4] = type;
  b.writeUInt32BE(chan, 5);
  payload.copy(b, 9);
  return b;
}

export function execPayload({ args, env = {}, cwd = '', user = '', stdin = false }) {
  const envs = Object.entries(env).map(([k, v]) => `${k}=${v}`);
  return Buffer.concat([
    u32(stdin ? 1 : 0), cstr(user), cstr(cwd),
    u32(args.length), ...args.map(cstr),
    u32(envs.length), ...envs.map(cstr),
  ]);
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

export function procState(pid) {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  } catch { return null; }
}
export const alive = (pid) => { const s = procState(pid); return !!s && s[0] !== 'Z'; };
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
  shim.stdout.on('data', (d) => { report += d; });
  await new Promise((resolve) => shim.stdout.on('end', resolve));
  assert.equal(report, 'ok\n');
  assert.equal(fs.statSync(sockPath).mode & 0o777, 0o600);
  return { shim, sockPath, client: await Client.connect(sockPath) };
}

/** Everything ASan/UBSan wrote in `dir` (empty when the run was clean). */
export function sanitizerReports(dir) {
  return fs.readdirSync(dir)
    .filter((n) => /^(asan|ubsan)\./.test(n) || n === 'agent.stderr')
    .map((n) => fs.readFileSync(path.join(dir, n), 'utf8'))
    .filter((text) => /Sanitizer|runtime error/.test(text));
}
