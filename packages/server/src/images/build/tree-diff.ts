/**
 * @module tree-diff
 * What a build step changed: walks the step's root (a btrfs snapshot of its parent layer, written
 * by the step) next to the parent layer and yields every difference, depth first, names in byte
 * order, so the layer written from it is the same for the same change.
 *
 * How a change is seen: a btrfs snapshot keeps every inode number and every ctime, and ctime cannot
 * be set from user space, so an entry is unchanged only if inode, ctime, mtime, size, mode, owner
 * and link count are all equal. A file changed and then given back its old content and mtime still
 * has a new ctime. A directory with a new inode was removed and made again: it is "replaced" (an
 * opaque directory in the layer), and everything under it is new.
 *
 * Nothing is ever followed: names come from readdir, types from lstat. Both trees must be at rest
 * (no process of a sandbox runs in either) while this walks them.
 */
import type { BigIntStats } from 'node:fs';
import { lstat, readdir } from 'node:fs/promises';
import { join } from 'node:path';

export type Change =
  /** New, or changed in place: the entry as it is in the step's root. */
  | { kind: 'add' | 'modify'; path: string; stat: BigIntStats }
  /** A directory made anew where the parent had one: its old content is hidden. */
  | { kind: 'replace'; path: string; stat: BigIntStats }
  /** Gone from the step's root (not descended into). */
  | { kind: 'delete'; path: string };

export interface DiffOptions {
  /**
   * Entries the runtime made and the step did not (mount points such as /proc, the agent's
   * /.airlock): skipped when this returns true for an entry new in the step's root.
   */
  runtimeArtifact?: (path: string, stat: BigIntStats) => boolean;
}

/** Root-relative paths without a leading slash; "" is the root itself. */
export async function* diffTrees(lower: string | undefined, upper: string, opts: DiffOptions = {}): AsyncGenerator<Change> {
  const rootUpper = await lstat(upper, { bigint: true });
  const rootLower = lower === undefined ? undefined : await lstat(lower, { bigint: true });
  if (rootLower && metadataChanged(rootLower, rootUpper)) yield { kind: 'modify', path: '', stat: rootUpper };
  yield* walk(lower, upper, '', rootLower !== undefined, opts);
}

async function* walk(lower: string | undefined, upper: string, rel: string, lowerHasDir: boolean, opts: DiffOptions): AsyncGenerator<Change> {
  const upperNames = await names(join(upper, rel));
  const lowerNames = lowerHasDir && lower !== undefined ? await names(join(lower, rel)) : [];
  const all = [...new Set([...upperNames, ...lowerNames])].sort(byteOrder);
  const inUpper = new Set(upperNames);
  const inLower = new Set(lowerNames);
  const stats = await Promise.all(
    all.map(async (name) => {
      const path = rel === '' ? name : `${rel}/${name}`;
      return {
        path,
        u: inUpper.has(name) ? await lstat(join(upper, path), { bigint: true }) : undefined,
        l: inLower.has(name) ? await lstat(join(lower!, path), { bigint: true }) : undefined,
      };
    }),
  );
  for (const { path, u, l } of stats) {
    if (!u) {
      yield { kind: 'delete', path };
      continue;
    }
    if (!l) {
      if (opts.runtimeArtifact?.(path, u)) continue;
      yield { kind: 'add', path, stat: u };
      if (u.isDirectory()) yield* walk(lower, upper, path, false, opts);
      continue;
    }
    if (u.isDirectory() && l.isDirectory()) {
      if (u.ino !== l.ino) {
        yield { kind: 'replace', path, stat: u };
        yield* walk(lower, upper, path, false, opts);
        continue;
      }
      if (metadataChanged(l, u)) yield { kind: 'modify', path, stat: u };
      yield* walk(lower, upper, path, true, opts);
      continue;
    }
    if (u.isDirectory()) {
      // A file became a directory: the new directory and all of it.
      yield { kind: 'add', path, stat: u };
      yield* walk(lower, upper, path, false, opts);
      continue;
    }
    if (l.isDirectory() || typeOf(l) !== typeOf(u) || contentChanged(l, u)) yield { kind: 'modify', path, stat: u };
  }
}

async function names(dir: string): Promise<string[]> {
  const list = await readdir(dir);
  for (const n of list) {
    // readdir decodes names as UTF-8; a name that is not cannot be opened again by that string.
    if (n.includes('\uFFFD')) throw new Error(`a file name in ${dir} is not valid UTF-8; Airlock cannot commit it`);
  }
  return list;
}

function metadataChanged(a: BigIntStats, b: BigIntStats): boolean {
  return a.mode !== b.mode || a.uid !== b.uid || a.gid !== b.gid || a.mtimeNs !== b.mtimeNs || a.ctimeNs !== b.ctimeNs;
}

function contentChanged(a: BigIntStats, b: BigIntStats): boolean {
  return a.ino !== b.ino || a.size !== b.size || a.nlink !== b.nlink || metadataChanged(a, b);
}

function typeOf(s: BigIntStats): string {
  if (s.isFile()) return 'file';
  if (s.isSymbolicLink()) return 'symlink';
  if (s.isDirectory()) return 'dir';
  return 'other';
}

/** Byte order of the UTF-8 names, so the order does not depend on the locale or UTF-16. */
export function byteOrder(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a), Buffer.from(b));
}
