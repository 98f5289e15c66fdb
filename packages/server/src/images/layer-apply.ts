/**
 * @module layer-apply
 * Applies one image layer (a tar stream, already decompressed) to a directory that holds the
 * layers below it (a writable snapshot of the parent), the way OCI's image-spec says:
 *
 * - `.wh.NAME` removes NAME from the lower layers; `.wh..wh..opq` in a directory removes everything
 *   the lower layers had there (what this layer itself puts there stays).
 * - Every name goes through scoped-path: `../`, absolute names and symlinks planted by earlier
 *   entries or layers never lead outside the directory. The last component is never followed.
 * - Device nodes and FIFOs are skipped (sandboxes get /dev from the runtime and the store is
 *   mounted nodev); ownership, modes (setuid included: the store is private to root) and mtimes are
 *   kept.
 *
 * The stream's sha256 is the layer's DiffID, which the caller checks against the image config.
 */
import { createHash } from 'node:crypto';
import { open } from 'node:fs/promises';
import {
  lchownSync,
  linkSync,
  lstatSync,
  lutimesSync,
  mkdirSync,
  readdirSync,
  rmSync,
  symlinkSync,
  unlinkSync,
  utimesSync,
  chmodSync,
  chownSync,
  constants,
} from 'node:fs';
import { posix } from 'node:path';
import type { Readable } from 'node:stream';
import { extract, type Header as Headers } from 'tar-stream';
type Body = AsyncIterable<Buffer>;
import { ScopedPathError, cleanEntryPath, resolveDirectory, resolveParent } from './scoped-path.js';

const WHITEOUT = '.wh.';
const OPAQUE = '.wh..wh..opq';

export interface AppliedLayer {
  /** sha256 of the uncompressed tar: the layer's DiffID. */
  diffId: string;
  entries: number;
  /** Entries not materialised (device nodes, FIFOs), with the reason, for the log. */
  skipped: string[];
  /** Bytes of file content written. */
  bytes: number;
}

export class LayerError extends Error {
  override readonly name = 'LayerError';
}

/** Applies the tar read from `tar` (uncompressed) on top of `root`. Rejects on malformed input. */
export async function applyLayer(tar: Readable, root: string): Promise<AppliedLayer> {
  const hash = createHash('sha256');
  const parser = extract();
  tar.on('data', (chunk: Buffer) => hash.update(chunk));
  let failed: Error | undefined;
  tar.on('error', (e) => {
    failed = e;
    parser.destroy(e);
  });
  // The input's own failure wins over what it caused downstream (an entry's "Stream was destroyed"):
  // a download's error keeps its code; a codec's (no code) means the layer is corrupt.
  const inputFailure = () =>
    failed === undefined
      ? undefined
      : (failed as NodeJS.ErrnoException).code !== undefined
        ? failed
        : new LayerError(`the layer cannot be read: ${failed.message}`);
  tar.pipe(parser);
  const state: ApplyState = { root, written: new Set(), dirTimes: [], skipped: [], bytes: 0 };
  let entries = 0;
  const iterator = parser[Symbol.asyncIterator]();
  for (;;) {
    let next: IteratorResult<Parameters<Parameters<typeof parser.on>[1]>[0]>;
    try {
      next = await iterator.next();
    } catch (e) {
      const input = inputFailure();
      if (input !== undefined) throw input;
      // The tar is malformed or cut short (tar-stream's errors carry no code): the layer is invalid.
      if ((e as NodeJS.ErrnoException).code !== undefined) throw e;
      throw new LayerError(`the layer is not a readable tar: ${(e as Error).message}`);
    }
    if (next.done) break;
    const entry = next.value as unknown as { header: Headers; resume(): void } & Body;
    entries++;
    try {
      await applyEntry(state, entry.header, entry);
    } catch (e) {
      entry.resume();
      const input = inputFailure();
      if (input !== undefined) throw input;
      if (e instanceof ScopedPathError) throw new LayerError(`layer entry ${JSON.stringify(entry.header.name)}: ${e.message}`);
      throw e;
    }
  }
  // Directory times last: creating entries inside a directory changes its mtime.
  for (const [path, mtime] of state.dirTimes.reverse()) {
    try {
      utimesSync(path, mtime, mtime);
    } catch {
      // removed by a later whiteout
    }
  }
  return { diffId: `sha256:${hash.digest('hex')}`, entries, skipped: state.skipped, bytes: state.bytes };
}

interface ApplyState {
  root: string;
  /** Root-relative paths this layer created: an opaque marker keeps them. */
  written: Set<string>;
  dirTimes: [string, Date][];
  skipped: string[];
  bytes: number;
}

async function applyEntry(s: ApplyState, h: Headers, body: AsyncIterable<Buffer>): Promise<void> {
  const rel = cleanEntryPath(h.name);
  if (rel === '') {
    // The layer's own "./": only its metadata, on the root itself.
    if (h.type === 'directory') setOwnerAndMode(s.root, h);
    return drain(body);
  }
  const { parent, name } = resolveParent(s.root, rel);
  const parentRel = posix.relative(s.root, parent);
  if (name === OPAQUE) {
    makeOpaque(s, parent, parentRel);
    return drain(body);
  }
  if (name.startsWith(WHITEOUT)) {
    const target = name.slice(WHITEOUT.length);
    if (target === '' || target === '.' || target === '..') throw new LayerError(`layer entry ${JSON.stringify(h.name)} is a malformed whiteout`);
    rmSync(posix.join(parent, target), { recursive: true, force: true });
    return drain(body);
  }
  ensureDirectory(s.root, parentRel);
  const path = posix.join(parent, name);
  const childRel = parentRel === '' ? name : `${parentRel}/${name}`;
  markWritten(s.written, childRel);
  const mtime = h.mtime ?? new Date(0);
  switch (h.type) {
    case 'file':
    case 'contiguous-file': {
      removeExisting(path);
      // Content is written through the thread pool: a large layer must not stall the event loop.
      const fh = await open(path, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o600);
      try {
        for await (const chunk of body) {
          let off = 0;
          while (off < chunk.length) off += (await fh.write(chunk, off, chunk.length - off)).bytesWritten;
          s.bytes += chunk.length;
        }
        // chown first: it clears setuid/setgid bits, which the chmod then sets.
        await fh.chown(h.uid ?? 0, h.gid ?? 0);
        await fh.chmod((h.mode ?? 0o644) & 0o7777);
        await fh.utimes(mtime, mtime);
      } finally {
        await fh.close();
      }
      return;
    }
    case 'directory': {
      let isDir = false;
      try {
        isDir = lstatSync(path).isDirectory();
      } catch {
        // absent
      }
      if (!isDir) {
        removeExisting(path);
        mkdirSync(path, 0o755);
      }
      setOwnerAndMode(path, h);
      s.dirTimes.push([path, mtime]);
      return drain(body);
    }
    case 'symlink': {
      removeExisting(path);
      symlinkSync(h.linkname ?? '', path);
      lchownSync(path, h.uid ?? 0, h.gid ?? 0);
      lutimesSync(path, mtime, mtime);
      return drain(body);
    }
    case 'link': {
      const target = resolveParent(s.root, h.linkname ?? '');
      const targetPath = posix.join(target.parent, target.name);
      if (lstatSync(targetPath, { throwIfNoEntry: false })?.isDirectory() !== false) {
        throw new LayerError(`layer entry ${JSON.stringify(h.name)} is a hard link to a directory or to nothing (${JSON.stringify(h.linkname)})`);
      }
      removeExisting(path);
      linkSync(targetPath, path);
      return drain(body);
    }
    case 'character-device':
    case 'block-device':
    case 'fifo':
      s.written.delete(childRel);
      s.skipped.push(`${rel} (${h.type})`);
      return drain(body);
    default:
      s.written.delete(childRel);
      s.skipped.push(`${rel} (${String(h.type)})`);
      return drain(body);
  }
}

/** Creates missing directories of an already resolved root-relative path (from a layer that omits them). */
function ensureDirectory(root: string, resolvedRel: string): void {
  if (resolvedRel === '') return;
  const path = posix.join(root, resolvedRel);
  const st = lstatSync(path, { throwIfNoEntry: false });
  if (st?.isDirectory()) return;
  if (st) {
    // A file where the layer needs a directory: the layer wins, as with tar.
    rmSync(path, { force: true });
  } else {
    const up = posix.dirname(resolvedRel);
    ensureDirectory(root, up === '.' ? '' : resolveDirectory(root, up));
  }
  mkdirSync(path, 0o755);
}

function removeExisting(path: string): void {
  const st = lstatSync(path, { throwIfNoEntry: false });
  if (!st) return;
  if (st.isDirectory()) rmSync(path, { recursive: true, force: true });
  else unlinkSync(path);
}

/** Records a path and its ancestors as this layer's own, so that an opaque marker keeps them. */
function markWritten(written: Set<string>, rel: string): void {
  for (let p = rel; p !== '' && !written.has(p); p = p.includes('/') ? p.slice(0, p.lastIndexOf('/')) : '') written.add(p);
}

function makeOpaque(s: ApplyState, dir: string, dirRel: string): void {
  ensureDirectory(s.root, dirRel);
  for (const child of readdirSync(dir)) {
    const childRel = dirRel === '' ? child : `${dirRel}/${child}`;
    if (!s.written.has(childRel)) rmSync(posix.join(dir, child), { recursive: true, force: true });
  }
}

/** For directories only: lstat showed `path` is a directory, not a symlink, so these calls do not follow. */
function setOwnerAndMode(path: string, h: Headers): void {
  chownSync(path, h.uid ?? 0, h.gid ?? 0);
  chmodSync(path, (h.mode ?? 0o755) & 0o7777);
}

async function drain(body: AsyncIterable<Buffer>): Promise<void> {
  for await (const _ of body) {
    // discard
  }
}
