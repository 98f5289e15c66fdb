/**
 * @module journal
 * A process's output journal on the server's disk: everything the agent sent, both streams in the
 * order it arrived, at absolute offsets (the "output offset": payload bytes of both streams
 * together), in segment files under `<data-dir>/journals/<sandbox>/<process>/`. It is bounded:
 * past `maxBytes` the oldest segment is deleted and `oldest` moves on, so a reader asking for what
 * fell out learns so (a gap). Bytes are acknowledged to the agent only once written here
 * (`streamWritten`), so a `kill -9` of the server loses none: the agent still holds what was not.
 *
 * Segment file: a 32-byte header ("ALJ1", u64 output offset, u64 stdout and u64 stderr offsets of its
 * first byte, 4 spare bytes), then records of u8 stream, u32 length, payload. Memory is bounded too:
 * records not yet written (at most the agent's window per stream) and the last `hotBytes`.
 */
import { closeSync, mkdirSync, openSync, readSync, readdirSync, fstatSync, ftruncateSync, rmSync } from 'node:fs';
import { open, unlink, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import type { Stream } from '../agent-channel/process-channel.js';

export interface JournalLimits {
  /** Bytes of output kept per process (older segments are deleted). */
  maxBytes: number;
  /** Bytes of the newest output also kept in memory, for readers that follow live. */
  hotBytes: number;
}

export interface JournalRecord {
  stream: Stream;
  /** Output offset of data[0]. */
  offset: number;
  /** Offset of data[0] within its stream. */
  streamOffset: number;
  data: Buffer;
}

interface Segment {
  start: number;
  end: number;
  path: string;
  /** Bytes of the file that are written (header included). */
  size: number;
  /** Sparse: output offset → file position of a record, every INDEX_EVERY bytes. */
  index: { offset: number; streamOffset: [number, number]; pos: number }[];
}

export type ReadResult = { kind: 'data'; records: JournalRecord[] } | { kind: 'gap'; to: number } | { kind: 'wait' };

const HEADER = 32;
const MAGIC = 'ALJ1';
const INDEX_EVERY = 64 * 1024;
const READ_MAX = 256 * 1024;

export class ProcessJournal {
  readonly dir: string;
  readonly #limits: JournalLimits;
  head = 0;
  written = 0;
  oldest = 0;
  readonly streamHead: [number, number] = [0, 0];
  readonly streamWritten: [number, number] = [0, 0];
  /** Set once a write failed: the journal keeps only memory from then on (and says so as a gap). */
  broken: Error | undefined;
  #mem: JournalRecord[] = [];
  #segments: Segment[] = [];
  #fh: FileHandle | undefined;
  #writing = false;
  #closed = false;
  #waiters: (() => void)[] = [];
  readonly #onWritten: (() => void)[] = [];

  private constructor(dir: string, limits: JournalLimits) {
    this.dir = dir;
    this.#limits = limits;
  }

  /** Opens the journal in `dir`, picking up what an earlier server wrote (a cut last record is dropped). */
  static open(dir: string, limits: JournalLimits): ProcessJournal {
    const j = new ProcessJournal(dir, limits);
    let names: string[] = [];
    try {
      names = readdirSync(dir).filter((n) => n.endsWith('.seg'));
    } catch {
      return j;
    }
    const segs = names
      .map((n) => ({ n, start: Number(n.slice(0, -4)) }))
      .filter((s) => Number.isSafeInteger(s.start))
      .sort((a, b) => a.start - b.start);
    for (const { n } of segs) {
      const seg = scanSegment(join(dir, n));
      if (!seg) continue;
      if (j.#segments.length === 0) {
        j.oldest = seg.seg.start;
        j.head = j.written = seg.seg.start;
      }
      if (seg.seg.start !== j.head) continue; // not contiguous: ignore it (it will be pruned with the rest)
      j.#segments.push(seg.seg);
      j.head = j.written = seg.seg.end;
      j.streamHead[0] = j.streamWritten[0] = seg.streamEnd[0];
      j.streamHead[1] = j.streamWritten[1] = seg.streamEnd[1];
    }
    return j;
  }

  /** Registers a listener for "more was written" (the process acknowledges it to the agent). */
  onWritten(listener: () => void): void {
    this.#onWritten.push(listener);
  }

  /** Output from the agent, in arrival order. `streamOffset` must continue the stream (the channel checks it). */
  append(stream: Stream, streamOffset: number, data: Buffer): void {
    if (this.#closed || data.length === 0) return;
    if (streamOffset > this.streamHead[stream]) {
      // The agent had freed bytes an earlier host held and this journal lost (a gap): skip to it.
      this.streamHead[stream] = streamOffset;
      this.streamWritten[stream] = Math.max(this.streamWritten[stream], streamOffset);
    } else if (streamOffset < this.streamHead[stream]) {
      // Sent again after a reconnect: keep only what is new.
      const skip = this.streamHead[stream] - streamOffset;
      if (skip >= data.length) return;
      data = data.subarray(skip);
      streamOffset += skip;
    }
    this.#mem.push({ stream, offset: this.head, streamOffset, data });
    this.head += data.length;
    this.streamHead[stream] += data.length;
    this.#wake();
    void this.#flush();
  }

  /** Resolves at the next change (data, a write, the end). */
  changed(): Promise<void> {
    return new Promise((r) => this.#waiters.push(r));
  }

  /** Set once the process ended and every byte it wrote is here: readers that reach the head are done. */
  ended = false;

  end(): void {
    this.ended = true;
    this.#wake();
  }

  /** Wakes readers without new data (one of them was closed, a pacer left). */
  poke(): void {
    this.#wake();
  }

  /** Per-stream offsets at output offset `at`, where memory still knows them (else what was written). */
  streamOffsetsAt(at: number): [number, number] {
    if (at >= this.head) return [this.streamHead[0], this.streamHead[1]];
    const out: [number, number] = [this.streamWritten[0], this.streamWritten[1]];
    const first = this.#mem[0];
    if (!first || at < first.offset) return out;
    const seen: [boolean, boolean] = [false, false];
    for (const r of this.#mem) {
      const s = r.stream;
      if (seen[s]) continue;
      if (r.offset + r.data.length > at) {
        out[s] = r.streamOffset + Math.max(0, at - r.offset);
        seen[s] = true;
      }
    }
    for (const s of [0, 1] as const) if (!seen[s]) out[s] = this.streamHead[s];
    return out;
  }

  /** Up to READ_MAX bytes of output from `from`. */
  async read(from: number): Promise<ReadResult> {
    if (from < this.oldest) return { kind: 'gap', to: this.oldest };
    if (from >= this.head) return { kind: 'wait' };
    const memStart = this.#mem[0]?.offset ?? this.head;
    if (from >= memStart) return { kind: 'data', records: sliceFrom(this.#mem, from, READ_MAX) };
    const seg = this.#segments.find((s) => s.start <= from && from < s.end);
    if (!seg) return { kind: 'gap', to: Math.max(this.oldest, memStart) };
    let at = seg.index[0]!;
    for (const e of seg.index) if (e.offset <= from) at = e;
    const records = await readRecords(seg, at, from);
    if (records === undefined) return { kind: 'gap', to: this.oldest > from ? this.oldest : seg.end };
    return { kind: 'data', records };
  }

  /** Stops writing; what is on disk stays for the next server (close) or goes (remove). */
  async close(): Promise<void> {
    this.#closed = true;
    while (this.#writing) await this.changed();
    await this.#fh?.close().catch(() => {});
    this.#fh = undefined;
    this.#wake();
  }

  async remove(): Promise<void> {
    await this.close();
    rmSync(this.dir, { recursive: true, force: true });
  }

  #wake(): void {
    for (const w of this.#waiters.splice(0)) w();
  }

  async #flush(): Promise<void> {
    if (this.#writing || this.#closed) return;
    this.#writing = true;
    try {
      while (!this.#closed && this.written < this.head) {
        // At most a segment's worth per write, so segments (and the bound on disk) stay what they say.
        const pending: JournalRecord[] = [];
        let batch = 0;
        for (const r of this.#mem) {
          if (r.offset < this.written) continue;
          if (pending.length > 0 && batch + r.data.length > this.#limits.maxBytes / 4) break;
          pending.push(r);
          batch += r.data.length;
        }
        if (this.broken) this.#skipWrite();
        else
          await this.#write(pending).catch((e: unknown) => {
            this.broken = e as Error;
            this.#skipWrite();
          });
        this.#trim();
        for (const l of this.#onWritten) l();
        this.#wake();
      }
    } finally {
      this.#writing = false;
      this.#wake();
    }
  }

  /** The disk failed: what is in memory counts as written (readers still get it), nothing more is kept. */
  #skipWrite(): void {
    for (const r of this.#mem) if (r.offset >= this.written) this.streamWritten[r.stream] = r.streamOffset + r.data.length;
    this.written = this.head;
  }

  async #write(pending: JournalRecord[]): Promise<void> {
    let seg = this.#segments.at(-1);
    if (!seg || !this.#fh || seg.size - HEADER >= this.#limits.maxBytes / 4) {
      await this.#fh?.close();
      this.#fh = undefined;
      mkdirSync(this.dir, { recursive: true, mode: 0o700 });
      const path = join(this.dir, `${String(this.written).padStart(16, '0')}.seg`);
      const fh = await open(path, 'w', 0o600);
      const header = Buffer.alloc(HEADER);
      header.write(MAGIC, 0, 'latin1');
      header.writeBigUInt64BE(BigInt(this.written), 4);
      header.writeBigUInt64BE(BigInt(this.streamWritten[0]), 12);
      header.writeBigUInt64BE(BigInt(this.streamWritten[1]), 20);
      await fh.write(header, 0, HEADER, 0);
      this.#fh = fh;
      seg = {
        start: this.written,
        end: this.written,
        path,
        size: HEADER,
        index: [{ offset: this.written, streamOffset: [this.streamWritten[0], this.streamWritten[1]], pos: HEADER }],
      };
      this.#segments.push(seg);
    }
    const parts: Buffer[] = [];
    let pos = seg.size;
    let lastIndexed = seg.index.at(-1)!.pos;
    const so: [number, number] = [this.streamWritten[0], this.streamWritten[1]];
    for (const r of pending) {
      if (pos - lastIndexed >= INDEX_EVERY) {
        seg.index.push({ offset: r.offset, streamOffset: [so[0], so[1]], pos });
        lastIndexed = pos;
      }
      const h = Buffer.allocUnsafe(5);
      h.writeUInt8(r.stream, 0);
      h.writeUInt32BE(r.data.length, 1);
      parts.push(h, r.data);
      pos += 5 + r.data.length;
      so[r.stream] = r.streamOffset + r.data.length;
    }
    const buf = Buffer.concat(parts);
    await this.#fh!.write(buf, 0, buf.length, seg.size);
    seg.size = pos;
    const last = pending.at(-1)!;
    seg.end = last.offset + last.data.length;
    this.written = seg.end;
    this.streamWritten[0] = so[0];
    this.streamWritten[1] = so[1];
    // Bounded on disk: the oldest segments go, and the journal says where it now begins.
    let total = this.#segments.reduce((n, s) => n + (s.end - s.start), 0);
    while (total > this.#limits.maxBytes && this.#segments.length > 1) {
      const gone = this.#segments.shift()!;
      total -= gone.end - gone.start;
      this.oldest = this.#segments[0]!.start;
      void unlink(gone.path).catch(() => {});
    }
  }

  /** Keeps in memory what is not yet written, and the newest hotBytes. */
  #trim(): void {
    const keepFrom = Math.min(this.written, this.head - this.#limits.hotBytes);
    while (this.#mem.length > 0 && this.#mem[0]!.offset + this.#mem[0]!.data.length <= keepFrom) this.#mem.shift();
    if (this.broken) this.oldest = Math.max(this.oldest, this.#mem[0]?.offset ?? this.head);
  }
}

function sliceFrom(records: JournalRecord[], from: number, max: number): JournalRecord[] {
  const out: JournalRecord[] = [];
  let bytes = 0;
  for (const r of records) {
    const end = r.offset + r.data.length;
    if (end <= from) continue;
    const skip = Math.max(0, from - r.offset);
    const data = r.data.subarray(skip, skip + (max - bytes));
    out.push({ stream: r.stream, offset: r.offset + skip, streamOffset: r.streamOffset + skip, data });
    bytes += data.length;
    if (bytes >= max) break;
  }
  return out;
}

async function readRecords(
  seg: Segment,
  at: { offset: number; pos: number; streamOffset: [number, number] },
  from: number,
): Promise<JournalRecord[] | undefined> {
  let fh: FileHandle;
  try {
    fh = await open(seg.path, 'r');
  } catch {
    return undefined; // pruned meanwhile
  }
  try {
    const len = Math.min(READ_MAX + 5 * 64, seg.size - at.pos);
    const buf = Buffer.allocUnsafe(len);
    const { bytesRead } = await fh.read(buf, 0, len, at.pos);
    const out: JournalRecord[] = [];
    let off = 0;
    let offset = at.offset;
    const so: [number, number] = [at.streamOffset[0], at.streamOffset[1]];
    let bytes = 0;
    while (off + 5 <= bytesRead && bytes < READ_MAX) {
      const stream = buf.readUInt8(off) as Stream;
      const n = buf.readUInt32BE(off + 1);
      if (off + 5 + n > bytesRead) {
        if (out.length === 0 && n > 0) {
          // One record larger than this read: take what is here of it.
          const data = Buffer.from(buf.subarray(off + 5, bytesRead));
          const skip = Math.max(0, from - offset);
          if (skip < data.length) out.push({ stream, offset: offset + skip, streamOffset: so[stream] + skip, data: data.subarray(skip) });
        }
        break;
      }
      if (offset + n > from) {
        const skip = Math.max(0, from - offset);
        out.push({ stream, offset: offset + skip, streamOffset: so[stream] + skip, data: Buffer.from(buf.subarray(off + 5 + skip, off + 5 + n)) });
        bytes += n - skip;
      }
      offset += n;
      so[stream] += n;
      off += 5 + n;
    }
    return out;
  } finally {
    await fh.close();
  }
}

/** Reads a segment's header and record headers; a cut last record is truncated away. */
function scanSegment(path: string): { seg: Segment; streamEnd: [number, number] } | undefined {
  let fd: number;
  try {
    fd = openSync(path, 'r+');
  } catch {
    return undefined;
  }
  try {
    const size = fstatSync(fd).size;
    const h = Buffer.alloc(HEADER);
    if (size < HEADER || readSync(fd, h, 0, HEADER, 0) !== HEADER || h.toString('latin1', 0, 4) !== MAGIC) return undefined;
    const start = Number(h.readBigUInt64BE(4));
    const so: [number, number] = [Number(h.readBigUInt64BE(12)), Number(h.readBigUInt64BE(20))];
    const seg: Segment = { start, end: start, path, size: HEADER, index: [{ offset: start, streamOffset: [so[0], so[1]], pos: HEADER }] };
    const rh = Buffer.alloc(5);
    let pos = HEADER;
    let lastIndexed = HEADER;
    while (pos + 5 <= size && readSync(fd, rh, 0, 5, pos) === 5) {
      const stream = rh.readUInt8(0);
      const n = rh.readUInt32BE(1);
      if (stream > 1 || pos + 5 + n > size) break;
      if (pos - lastIndexed >= INDEX_EVERY) {
        seg.index.push({ offset: seg.end, streamOffset: [so[0], so[1]], pos });
        lastIndexed = pos;
      }
      seg.end += n;
      so[stream as Stream] += n;
      pos += 5 + n;
    }
    if (pos < size) ftruncateSync(fd, pos);
    seg.size = pos;
    return { seg, streamEnd: so };
  } finally {
    closeSync(fd);
  }
}
