/**
 * @module fake-agent
 * TEST ONLY: an in-memory agent speaking the wire protocol (PROTOCOL.md) over a stream pair, for unit
 * tests of the channel, the lifecycle, the pools and reconcile without root or a runtime. It answers
 * PING, runs a handful of pretend commands (`true`, `false`, `echo ARGS…`, `exit N`, `sleep MS`,
 * `cat` of stdin) and file operations on an in-memory map, and lets a test inject raw bytes as a
 * hostile sandbox would. It is never evidence that isolation works, only that the host's logic does.
 */
import { Duplex, PassThrough } from 'node:stream';
import { AgentFrame, FrameDecoder, HostFrame, encodeFrame, type Frame } from '@airlock/agent';
import type { AgentTransport } from '../runtimes/runtime.js';

interface FakeProc {
  pid: number;
  argv: string[];
  stdin: Buffer[];
  timer?: NodeJS.Timeout;
}

export class FakeAgent {
  /** What the host writes (its requests). */
  readonly #toAgent = new PassThrough();
  /** What the agent writes (the host reads it). */
  #toHost = new PassThrough();
  readonly #decoder = new FrameDecoder();
  readonly #procs = new Map<number, FakeProc>();
  readonly files = new Map<string, Buffer>();
  /** Every frame the host sent, for assertions. */
  readonly received: Frame[] = [];
  #nextPid = 100;
  #responsive = true;
  /** What arrived while frozen: handled, in order, when it thaws (as a SIGCONT'ed agent would). */
  readonly #backlog: Frame[] = [];
  #stream: Duplex | undefined;

  constructor() {
    this.#toAgent.on('data', (chunk: Buffer) => {
      for (const f of this.#decoder.push(chunk)) {
        this.received.push(f);
        if (this.#responsive) this.#handle(f);
        else this.#backlog.push(f);
      }
    });
  }

  /** False: the agent reads but answers nothing (a frozen agent); true again: it catches up. */
  get responsive(): boolean {
    return this.#responsive;
  }

  set responsive(on: boolean) {
    this.#responsive = on;
    if (on) for (const f of this.#backlog.splice(0)) this.#handle(f);
  }

  /** Forgets what arrived while frozen (a test that answers by hand). */
  dropBacklog(): void {
    this.#backlog.length = 0;
  }

  /** A transport whose every open() is a fresh connection to this agent (as a shim would give). */
  transport(endpoint = 'fake-agent'): AgentTransport {
    return {
      endpoint,
      open: async () => {
        this.#stream?.destroy();
        this.#toHost = new PassThrough();
        const stream = Duplex.from({ readable: this.#toHost, writable: this.#passTo(this.#toAgent) });
        this.#stream = stream;
        return stream;
      },
    };
  }

  /** Writes raw bytes to the host, as a sandbox process writing to the agent's pipe would. */
  inject(bytes: Uint8Array): void {
    this.#toHost.write(bytes);
  }

  send(type: number, channel: number, payload: Uint8Array = Buffer.alloc(0)): void {
    this.#toHost.write(encodeFrame(type, channel, payload));
  }

  /** The sandbox ends: its pretend processes die with it, and the host sees EOF. */
  exit(): void {
    this.#killAll();
    this.#toHost.end();
  }

  #killAll(): void {
    for (const p of this.#procs.values()) clearTimeout(p.timer);
    this.#procs.clear();
  }

  #passTo(target: PassThrough): PassThrough {
    const p = new PassThrough();
    p.on('data', (c: Buffer) => target.write(c));
    return p;
  }

  #handle(f: Frame): void {
    switch (f.type) {
      case HostFrame.Ping:
        return this.send(AgentFrame.Pong, f.channel, f.payload);
      case HostFrame.Reset:
        return this.#killAll();
      case HostFrame.Exec:
        return this.#exec(f);
      case HostFrame.Stdin: {
        this.#procs.get(f.channel)?.stdin.push(f.payload);
        return;
      }
      case HostFrame.StdinClose: {
        const p = this.#procs.get(f.channel);
        if (p && p.argv[0] === 'cat') this.#finish(f.channel, 0, Buffer.concat(p.stdin));
        return;
      }
      case HostFrame.Signal: {
        const p = this.#procs.get(f.channel);
        if (p) {
          clearTimeout(p.timer);
          this.#procs.delete(f.channel);
          this.send(AgentFrame.Exited, f.channel, u32s(-1 >>> 0, f.payload.readUInt32BE(0)));
        }
        return;
      }
      case HostFrame.FileRead: {
        const path = cstrings(f.payload)[0] ?? '';
        const data = this.files.get(path);
        if (!data) return this.send(AgentFrame.Error, f.channel, errorPayload(2, `open: No such file or directory`));
        if (data.length > 0) this.send(AgentFrame.FileData, f.channel, data);
        return this.send(AgentFrame.FileEnd, f.channel);
      }
      case HostFrame.Cancel:
        return this.send(AgentFrame.Error, f.channel, errorPayload(125, 'cancelled'));
      case HostFrame.ProcList:
        // Its processes end with the channel that started them: nothing outlives a host here.
        return this.send(AgentFrame.ProcEnd, f.channel);
      case HostFrame.Subscribe:
      case HostFrame.Forget:
        return this.send(AgentFrame.Error, f.channel, errorPayload(2, 'no such process'));
      default:
        return;
    }
  }

  #exec(f: Frame): void {
    // u32 flags, user\0, cwd\0, u32 argc, argv…
    let off = 4;
    for (let i = 0; i < 2; i++) off = f.payload.indexOf(0, off) + 1;
    const argc = f.payload.readUInt32BE(off);
    const argv = cstrings(f.payload.subarray(off + 4)).slice(0, argc);
    const pid = this.#nextPid++;
    const name = argv[0] ?? '';
    if (!['true', 'false', 'echo', 'exit', 'sleep', 'cat'].includes(name)) {
      return this.send(AgentFrame.Error, f.channel, errorPayload(2, `exec '${name}': No such file or directory`));
    }
    const proc: FakeProc = { pid, argv, stdin: [] };
    this.#procs.set(f.channel, proc);
    this.send(AgentFrame.Started, f.channel, u32s(pid));
    if (name === 'true') this.#finish(f.channel, 0);
    else if (name === 'false') this.#finish(f.channel, 1);
    else if (name === 'echo') this.#finish(f.channel, 0, Buffer.from(`${argv.slice(1).join(' ')}\n`));
    else if (name === 'exit') this.#finish(f.channel, Number(argv[1] ?? 0));
    else if (name === 'sleep') proc.timer = setTimeout(() => this.#finish(f.channel, 0), Number(argv[1] ?? 0));
  }

  #finish(channel: number, code: number, stdout?: Buffer): void {
    if (!this.#procs.delete(channel)) return;
    if (stdout && stdout.length > 0) this.send(AgentFrame.Stdout, channel, stdout);
    this.send(AgentFrame.Exited, channel, u32s(code, 0));
  }
}

function u32s(...values: number[]): Buffer {
  const b = Buffer.alloc(values.length * 4);
  values.forEach((v, i) => b.writeUInt32BE(v >>> 0, i * 4));
  return b;
}

function cstrings(p: Buffer): string[] {
  const out: string[] = [];
  let start = 0;
  for (let i = 0; i < p.length; i++) {
    if (p[i] === 0) {
      out.push(p.toString('utf8', start, i));
      start = i + 1;
    }
  }
  return out;
}

export function errorPayload(errno: number, message: string): Buffer {
  return Buffer.concat([u32s(errno), Buffer.from(`${message}\0`)]);
}
