/**
 * @module messages
 * Frame types and payload codecs of the agent protocol. Parsers check every bound, since the bytes
 * come from inside a sandbox.
 */
import { ProtocolError } from './frame.js';

export const HostFrame = {
  Exec: 0x01,
  Stdin: 0x02,
  StdinClose: 0x03,
  Signal: 0x04,
  Ping: 0x05,
  Credit: 0x06,
  Reset: 0x07,
  Subscribe: 0x08,
  Ack: 0x09,
  Resize: 0x0a,
  ProcList: 0x0b,
  Forget: 0x0c,
  FileWrite: 0x10,
  FileData: 0x11,
  FileEnd: 0x12,
  FileRead: 0x13,
  ListDir: 0x14,
  Cancel: 0x15,
  Stat: 0x16,
  Mkdir: 0x17,
  Remove: 0x18,
  Rename: 0x19,
  Chmod: 0x1a,
  Symlink: 0x1b,
  Watch: 0x1c,
} as const;

export const AgentFrame = {
  Hello: 0x80,
  Started: 0x81,
  Stdout: 0x82,
  Stderr: 0x83,
  Exited: 0x84,
  Error: 0x85,
  Ok: 0x86,
  FileData: 0x87,
  FileEnd: 0x88,
  DirEntries: 0x89,
  DirEnd: 0x8a,
  Pong: 0x8b,
  Oom: 0x8c,
  Subscribed: 0x8d,
  ProcInfo: 0x8e,
  ProcEnd: 0x8f,
  StatResult: 0x90,
  WatchEvents: 0x91,
  StdinAck: 0x92,
} as const;

export const KNOWN_AGENT_FRAMES: ReadonlySet<number> = new Set(Object.values(AgentFrame));

export interface ExecSpec {
  argv: string[];
  env: string[];
  cwd: string;
  user: string;
  keepStdin: boolean;
  /** The process's id in the agent's registry (unique in the sandbox) and its user-given tag. */
  id: string;
  tag?: string;
  /** Bytes of unacknowledged output the agent may hold per stream before the process blocks. */
  ringBytes?: number;
  /** Runs on a pseudo-terminal of this size. */
  pty?: { cols: number; rows: number } | undefined;
  /** Recorded for a later host: the process dies with its client (a plain exec). */
  foreground?: boolean;
}

export const EXEC_FLAGS = { keepStdin: 1, pty: 2, foreground: 4 } as const;

export function encodeExec(spec: ExecSpec): Buffer {
  const flags = (spec.keepStdin ? EXEC_FLAGS.keepStdin : 0) | (spec.pty ? EXEC_FLAGS.pty : 0) | (spec.foreground ? EXEC_FLAGS.foreground : 0);
  const parts: Buffer[] = [u32(flags), cstr(spec.user), cstr(spec.cwd), u32(spec.argv.length)];
  for (const a of spec.argv) parts.push(cstr(a));
  parts.push(u32(spec.env.length));
  for (const e of spec.env) parts.push(cstr(e));
  parts.push(cstr(spec.id), cstr(spec.tag ?? ''), u32(spec.ringBytes ?? 0), u32(spec.pty?.cols ?? 0), u32(spec.pty?.rows ?? 0));
  return Buffer.concat(parts);
}

export function encodeFileWrite(path: string, mode: number, mkdirParents: boolean, user: string): Buffer {
  return Buffer.concat([u32(mode), u32(mkdirParents ? 1 : 0), cstr(path), cstr(user)]);
}

/** FILE_READ and LIST_DIR: the path, the user whose rights the agent uses (empty: root), and for LIST_DIR a depth (1: its own entries). */
export function encodePath(path: string, user = '', depth?: number): Buffer {
  return Buffer.concat([cstr(path), cstr(user), ...(depth === undefined ? [] : [u32(depth)])]);
}

export function encodeSignal(signo: number): Buffer {
  return u32(signo);
}

/** A process's stdin may run this far ahead of what it has taken (STDIN_ACK). */
export const STDIN_WINDOW = 256 * 1024;

/** Flow control: the consumer took `bytes`; the agent may send that much more on the channel. */
export const INITIAL_CREDIT = 256 * 1024;

export function encodeCredit(bytes: number): Buffer {
  return u32(Math.min(bytes, 0xffffffff));
}

export function decodeStarted(p: Buffer): { pid: number } {
  need(p, 4, 'STARTED');
  return { pid: p.readUInt32BE(0) };
}

export function decodeExited(p: Buffer): { code: number | null; signal: number | null } {
  need(p, 8, 'EXITED');
  const code = p.readInt32BE(0);
  const signo = p.readUInt32BE(4);
  if (signo > 128) throw new ProtocolError(`EXITED signal ${signo} out of range`);
  return signo !== 0 ? { code: null, signal: signo } : { code, signal: null };
}

export function decodeError(p: Buffer): { errno: number; message: string } {
  need(p, 5, 'ERROR');
  const errno = p.readUInt32BE(0);
  const [message] = readCString(p, 4, 'ERROR');
  return { errno, message: message.slice(0, 1024) };
}

export function decodeOk(p: Buffer): { bytes: number } {
  need(p, 8, 'OK');
  return { bytes: Number(p.readBigUInt64BE(0)) };
}

/** OOM (channel 0): the agent's memory watch killed a process (gVisor's guest limit). */
export function decodeOom(p: Buffer): { pid: number; rssBytes: number } {
  need(p, 12, 'OOM');
  return { pid: p.readUInt32BE(0), rssBytes: Number(p.readBigUInt64BE(4)) };
}

export function decodeHello(p: Buffer): { version: string } {
  const [version] = readCString(p, 0, 'HELLO');
  return { version: version.slice(0, 64) };
}

export interface DirEntry {
  name: string;
  kind: 'file' | 'dir' | 'symlink' | 'other';
  mode: number;
  size: number;
  mtime: number;
}

const KINDS: Record<string, DirEntry['kind']> = { f: 'file', d: 'dir', l: 'symlink', o: 'other' };

export function decodeDirEntries(p: Buffer): DirEntry[] {
  const out: DirEntry[] = [];
  let off = 0;
  while (off < p.length) {
    if (p.length - off < 21 + 1) throw new ProtocolError('DIR_ENTRIES entry truncated');
    const kind = KINDS[String.fromCharCode(p.readUInt8(off))];
    if (kind === undefined) throw new ProtocolError('DIR_ENTRIES entry has an unknown kind');
    const mode = p.readUInt32BE(off + 1);
    const size = Number(p.readBigUInt64BE(off + 5));
    const mtime = Number(p.readBigInt64BE(off + 13));
    const [name, next] = readCString(p, off + 21, 'DIR_ENTRIES');
    out.push({ name, kind, mode, size, mtime });
    off = next;
  }
  return out;
}

export function readCString(p: Buffer, off: number, what: string): [string, number] {
  const end = p.indexOf(0, off);
  if (end < 0) throw new ProtocolError(`${what}: string is not NUL-terminated`);
  return [p.toString('utf8', off, end), end + 1];
}

export function need(p: Buffer, n: number, what: string): void {
  if (p.length < n) throw new ProtocolError(`${what} payload of ${p.length} bytes, expected at least ${n}`);
}

export function u32(n: number): Buffer {
  const b = Buffer.allocUnsafe(4);
  b.writeUInt32BE(n >>> 0, 0);
  return b;
}

export function cstr(s: string): Buffer {
  if (s.includes('\0')) throw new ProtocolError('strings sent to the agent must not contain NUL');
  return Buffer.from(`${s}\0`, 'utf8');
}
