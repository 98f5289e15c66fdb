/**
 * @module messages-ops
 * Payload codecs of the process registry (SUBSCRIBE, ACK, RESIZE, PROC_LIST, FORGET) and of the file
 * operations beyond read/write/list (STAT, MKDIR, REMOVE, RENAME, CHMOD, SYMLINK, WATCH). Decoders
 * check every bound: the bytes come from inside a sandbox.
 */
import { ProtocolError } from './frame.js';
import { cstr, need, readCString, u32 } from './messages.js';

function u64(n: number): Buffer {
  const b = Buffer.allocUnsafe(8);
  b.writeBigUInt64BE(BigInt(Math.max(0, Math.floor(n))), 0);
  return b;
}

/** Offsets are u64 on the wire; beyond 2^53 a sandbox is lying (nobody writes 9 PB). */
function offset(p: Buffer, at: number, what: string): number {
  const v = p.readBigUInt64BE(at);
  if (v > BigInt(Number.MAX_SAFE_INTEGER)) throw new ProtocolError(`${what}: offset out of range`);
  return Number(v);
}

export const encodeSubscribe = (id: string, from: [number, number]) => Buffer.concat([cstr(id), u64(from[0]), u64(from[1])]);
export const encodeAck = (to: [number, number]) => Buffer.concat([u64(to[0]), u64(to[1])]);
export const encodeResize = (cols: number, rows: number) => Buffer.concat([u32(cols), u32(rows)]);
export const encodeForget = (id: string) => cstr(id);

/** STDIN_ACK: stdin bytes the process took (written to it, or dropped after it closed stdin). */
export function decodeStdinAck(p: Buffer): number {
  need(p, 4, 'STDIN_ACK');
  return p.readUInt32BE(0);
}

export interface Subscribed {
  pid: number;
  /** Where each stream (stdout or the terminal, stderr) starts on this subscription. */
  from: [number, number];
  /** Per stream: bytes before `from` that the host asked for are gone (acknowledged by an earlier host). */
  gap: [boolean, boolean];
}

export function decodeSubscribed(p: Buffer): Subscribed {
  need(p, 24, 'SUBSCRIBED');
  const gaps = p.readUInt32BE(20);
  return { pid: p.readUInt32BE(0), from: [offset(p, 4, 'SUBSCRIBED'), offset(p, 12, 'SUBSCRIBED')], gap: [(gaps & 1) !== 0, (gaps & 2) !== 0] };
}

export type AgentProcState = 'starting' | 'running' | 'exited';

export interface ProcInfo {
  id: string;
  tag: string;
  command: string;
  pid: number;
  pty: boolean;
  foreground: boolean;
  keepStdin: boolean;
  state: AgentProcState;
  exit: { code: number | null; signal: number | null } | null;
  startedMs: number;
  endedMs: number | null;
  head: [number, number];
  acked: [number, number];
  cols: number;
  rows: number;
}

const STATES: AgentProcState[] = ['starting', 'running', 'exited'];
const ID_MAX = 64;

export function decodeProcInfo(p: Buffer): ProcInfo {
  need(p, 69 + 3, 'PROC_INFO');
  const state = STATES[p.readUInt8(8)];
  if (state === undefined) throw new ProtocolError('PROC_INFO: unknown state');
  const flags = p.readUInt32BE(4);
  const code = p.readInt32BE(9);
  const signo = p.readUInt32BE(13);
  if (signo > 128) throw new ProtocolError(`PROC_INFO signal ${signo} out of range`);
  const [id, a] = readCString(p, 69, 'PROC_INFO');
  const [tag, b] = readCString(p, a, 'PROC_INFO');
  const [command] = readCString(p, b, 'PROC_INFO');
  if (id.length === 0 || Buffer.byteLength(id) > ID_MAX) throw new ProtocolError('PROC_INFO: bad id');
  const head: [number, number] = [offset(p, 33, 'PROC_INFO'), offset(p, 49, 'PROC_INFO')];
  const acked: [number, number] = [offset(p, 41, 'PROC_INFO'), offset(p, 57, 'PROC_INFO')];
  if (acked[0] > head[0] || acked[1] > head[1]) throw new ProtocolError('PROC_INFO: acknowledged beyond what was written');
  const ended = Number(p.readBigInt64BE(25));
  return {
    id,
    tag: tag.slice(0, 256),
    command: command.slice(0, 512),
    pid: p.readUInt32BE(0),
    pty: (flags & 2) !== 0,
    foreground: (flags & 4) !== 0,
    keepStdin: (flags & 1) !== 0,
    state,
    exit: state === 'exited' ? (signo !== 0 ? { code: null, signal: signo } : { code, signal: null }) : null,
    startedMs: Number(p.readBigInt64BE(17)),
    endedMs: state === 'exited' ? ended : null,
    head,
    acked,
    cols: p.readUInt16BE(65),
    rows: p.readUInt16BE(67),
  };
}

// ---- file operations ----

export const encodeStat = (path: string, user: string, noFollow: boolean) => Buffer.concat([u32(noFollow ? 1 : 0), cstr(path), cstr(user)]);
export const encodeMkdir = (path: string, user: string, mode: number, parents: boolean) =>
  Buffer.concat([u32(mode), u32(parents ? 1 : 0), cstr(path), cstr(user)]);
export const encodeRemove = (path: string, user: string, recursive: boolean) => Buffer.concat([u32(recursive ? 1 : 0), cstr(path), cstr(user)]);
export const encodeRename = (from: string, to: string, user: string, noReplace: boolean) =>
  Buffer.concat([u32(noReplace ? 1 : 0), cstr(from), cstr(to), cstr(user)]);
export const encodeChmod = (path: string, user: string, mode: number) => Buffer.concat([u32(mode), cstr(path), cstr(user)]);
export const encodeSymlink = (target: string, path: string, user: string) => Buffer.concat([cstr(target), cstr(path), cstr(user)]);
export const encodeWatch = (path: string, user: string, recursive: boolean) => Buffer.concat([u32(recursive ? 1 : 0), cstr(path), cstr(user)]);

export interface StatResult {
  kind: 'file' | 'dir' | 'symlink' | 'other';
  mode: number;
  size: number;
  mtimeMs: number;
  uid: number;
  gid: number;
  /** A symlink's target; '' otherwise. */
  target: string;
}

const KINDS: Record<string, StatResult['kind']> = { f: 'file', d: 'dir', l: 'symlink', o: 'other' };

export function decodeStatResult(p: Buffer): StatResult {
  need(p, 30, 'STAT_RESULT');
  const kind = KINDS[String.fromCharCode(p.readUInt8(0))];
  if (kind === undefined) throw new ProtocolError('STAT_RESULT: unknown kind');
  const [target] = readCString(p, 29, 'STAT_RESULT');
  return {
    kind,
    mode: p.readUInt32BE(1) & 0o7777,
    size: Number(p.readBigUInt64BE(5)),
    mtimeMs: Number(p.readBigInt64BE(13)),
    uid: p.readUInt32BE(21),
    gid: p.readUInt32BE(25),
    target,
  };
}

export type WatchKind = 'create' | 'write' | 'remove' | 'rename_from' | 'rename_to' | 'chmod' | 'moved' | 'overflow';

export interface WatchEvent {
  kind: WatchKind;
  /** Relative to the watched path ('' for the path itself). */
  path: string;
  /** Pairs a rename's two halves (0 otherwise). */
  cookie: number;
}

const WATCH_KINDS: Record<string, WatchKind> = {
  c: 'create',
  w: 'write',
  r: 'remove',
  f: 'rename_from',
  t: 'rename_to',
  a: 'chmod',
  m: 'moved',
  o: 'overflow',
};

export function decodeWatchEvents(p: Buffer): WatchEvent[] {
  const out: WatchEvent[] = [];
  let off = 0;
  while (off < p.length) {
    if (p.length - off < 6) throw new ProtocolError('WATCH_EVENTS entry truncated');
    const kind = WATCH_KINDS[String.fromCharCode(p.readUInt8(off))];
    if (kind === undefined) throw new ProtocolError('WATCH_EVENTS entry has an unknown kind');
    const cookie = p.readUInt32BE(off + 1);
    const [path, next] = readCString(p, off + 5, 'WATCH_EVENTS');
    out.push({ kind, path, cookie });
    off = next;
  }
  return out;
}
