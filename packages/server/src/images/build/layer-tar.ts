/**
 * @module layer-tar
 * Writes the changes of a build step as an OCI layer tar (image-spec "Representing Changes"):
 * entries in the order the diff gives them (depth first, names in byte order), every parent
 * directory of a change included, `.wh.NAME` for a deletion, `.wh..wh..opq` after a directory made
 * anew, hard links as link entries to the first name written, owner, mode and extended attributes
 * kept (PAX `SCHILY.xattr.*`), and mtimes fixed by the build's time rule (see `TimeRule`). The same
 * changes give the same bytes.
 *
 * Files are opened with O_NOFOLLOW from a tree nothing runs in, so no name is followed anywhere.
 */
import { constants } from 'node:fs';
import { open, readlink } from 'node:fs/promises';
import { join, posix } from 'node:path';
import { nanoseconds, type EntryStat } from '../../host/tree-stat.js';
import { readXattrs } from '../../host/xattrs.js';
import type { TarHeader, TarWriter } from './tar-writer.js';
import type { Change } from './tree-diff.js';

/**
 * How the mtimes of a layer are fixed. `stepStartNs`: entries modified at or after it (what the
 * step itself wrote) get `epoch`; older ones came with a package or a base and keep theirs. With
 * `clamp` (SOURCE_DATE_EPOCH given), every mtime after `epoch` becomes `epoch`.
 */
export interface TimeRule {
  epoch: number;
  stepStartNs: bigint;
  clamp: boolean;
}

export interface WrittenEntry {
  path: string;
  /** The mtime written (seconds), to be set on the step's root too. */
  mtime: number;
}

/** xattr namespaces kept in layers: file capabilities, user attributes and ACLs. */
const KEEP_XATTR = /^(security\.capability|user\..+|system\.posix_acl_(access|default))$/;
const SMALL_FILE = 1024 * 1024;

export function mtimeOf(stat: EntryStat, rule: TimeRule): number {
  const ns = nanoseconds(stat.mtime);
  const seconds = Number(ns / 1_000_000_000n);
  if (rule.clamp) return Math.min(seconds, rule.epoch);
  return ns >= rule.stepStartNs ? rule.epoch : seconds;
}

/** Writes every change into `tar` (not finished). Returns the entries written with their mtime, in order. */
export async function writeLayerTar(changes: Change[], upper: string, stats: Map<string, EntryStat>, rule: TimeRule, tar: TarWriter): Promise<WrittenEntry[]> {
  const xattrs = await readXattrs(changes.filter((c) => c.kind !== 'delete').map((c) => join(upper, c.path)));
  const written: WrittenEntry[] = [];
  const dirs = new Set<string>(['']);
  const links = new Map<number, string>();
  const marker = (name: string) => tar.entry({ name, type: 'file', size: 0, mode: 0o644, uid: 0, gid: 0, mtime: rule.epoch });
  const put = async (path: string, stat: EntryStat, linkTo?: string) => {
    const e = await entry(tar, path, stat, rule, upper, xattrs.get(join(upper, path)), linkTo);
    if (e) written.push(e);
  };

  for (const c of changes) {
    if (c.path === '') {
      if (c.kind !== 'delete') await put('', c.stat);
      continue;
    }
    // Every parent of a change is in the layer (as containerd writes them), so a layer read alone
    // never leaves a directory's owner and mode to the applier's defaults.
    const missing: string[] = [];
    for (let p = posix.dirname(c.path); p !== '.' && !dirs.has(p); p = posix.dirname(p)) missing.unshift(p);
    for (const p of missing) {
      await put(p, stats.get(p)!);
      dirs.add(p);
    }
    if (c.kind === 'delete') {
      await marker(whiteoutName(c.path));
      continue;
    }
    let linkTo: string | undefined;
    if (c.stat.type === 'file' && c.stat.nlink > 1) {
      linkTo = links.get(c.stat.ino);
      if (linkTo === undefined) links.set(c.stat.ino, c.path);
    }
    await put(c.path, c.stat, linkTo);
    if (c.stat.type === 'dir') dirs.add(c.path);
    if (c.kind === 'replace') await marker(`${c.path}/.wh..wh..opq`);
  }
  return written;
}

function whiteoutName(path: string): string {
  const dir = posix.dirname(path);
  const base = posix.basename(path);
  return dir === '.' ? `.wh.${base}` : `${dir}/.wh.${base}`;
}

async function entry(
  tar: TarWriter,
  path: string,
  stat: EntryStat,
  rule: TimeRule,
  upper: string,
  attrs: Map<string, Buffer> | undefined,
  linkTo: string | undefined,
): Promise<WrittenEntry | undefined> {
  const mtime = mtimeOf(stat, rule);
  const xattrs = attrs ? [...attrs].filter(([k]) => KEEP_XATTR.test(k)).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)) : [];
  const base = { name: path === '' ? './' : path, mode: stat.mode & 0o7777, uid: stat.uid, gid: stat.gid, mtime, xattrs, size: 0 };
  if (linkTo !== undefined) await tar.entry({ ...base, type: 'link', linkname: linkTo });
  else if (stat.type === 'dir') await tar.entry({ ...base, type: 'directory' });
  else if (stat.type === 'symlink') await tar.entry({ ...base, type: 'symlink', linkname: await readlink(join(upper, path)) });
  else if (stat.type === 'fifo') await tar.entry({ ...base, type: 'fifo' });
  else if (stat.type === 'file') await fileEntry(tar, { ...base, type: 'file', size: Number(stat.size) }, join(upper, path));
  else return undefined; // sockets and device nodes are not carried in layers (the runtime provides /dev)
  return { path, mtime };
}

async function fileEntry(tar: TarWriter, h: TarHeader, path: string): Promise<void> {
  const fd = await open(path, constants.O_RDONLY | constants.O_NOFOLLOW);
  try {
    if (h.size <= SMALL_FILE) {
      const body = Buffer.alloc(h.size);
      let off = 0;
      while (off < h.size) {
        const { bytesRead } = await fd.read(body, off, h.size - off, off);
        if (bytesRead === 0) throw new Error(`${path} shrank while it was committed`);
        off += bytesRead;
      }
      await tar.entry(h, body);
      return;
    }
    await tar.entry(h, fd.createReadStream({ start: 0, end: h.size - 1, autoClose: false }));
  } finally {
    await fd.close();
  }
}
